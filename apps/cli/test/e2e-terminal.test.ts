// On a terminal: password prompts without echo, and the live progress line. The CLI runs inside a
// real pseudo-terminal made by script(1) from util-linux.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { baseEnv, CLI, put, removeDir, tempDir } from './helpers.js';

let dir: string;
let env: Record<string, string>;

/**
 * Runs the CLI on a terminal; each time the output ends with a prompt, types the next answer.
 * Resolves with everything the terminal showed and the exit code.
 */
function onTerminal(args: string[], answers: string[]): Promise<{ code: number; screen: string }> {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { env, cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let answered = 0;
  child.stdout.on('data', (d: Buffer) => {
    screen += d.toString('utf8');
    const prompts = screen.match(/: $/) ? (screen.match(/password[^\n]*: /g) ?? []).length : 0;
    if (prompts > answered && answered < answers.length) child.stdin.write(`${answers[answered++]}\r`);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, screen }));
  });
}

beforeAll(async () => {
  dir = await tempDir();
  env = baseEnv(dir);
  await put(path.join(dir, 'data', 'a.bin'), randomBytes(3_000_000));
  await put(path.join(dir, 'data', 'b.txt'), 'bee\n');
});
afterAll(() => removeDir(dir));

describe('on a terminal', () => {
  test('init asks for the password twice, without echo', async () => {
    const r = await onTerminal(['init', '--repo', path.join(dir, 'repo')], ['typed secret', 'typed secret']);
    expect(r.code).toBe(0);
    expect(r.screen).toContain('enter password for the new repository: ');
    expect(r.screen).toContain('enter the password again: ');
    expect(r.screen).toMatch(/created repository [0-9a-f]{10}/);
    expect(r.screen).not.toContain('typed secret');
  });

  test('init refuses two different passwords', async () => {
    const r = await onTerminal(['init', '--repo', path.join(dir, 'repo-2')], ['one', 'two']);
    expect(r.code).toBe(1);
    expect(r.screen).toContain('strata: the passwords do not match; run the command again and type the same password twice');
  });

  test('backup asks once, shows a progress line and clears it; a wrong password is exit 12', async () => {
    const r = await onTerminal(['backup', '--repo', path.join(dir, 'repo'), path.join(dir, 'data')], ['typed secret']);
    expect(r.code).toBe(0);
    expect(r.screen).toMatch(/enter password for repository local:\S+: /);
    // The live line: redrawn in place (\r, erase line), naming files, bytes and rate.
    expect(r.screen).toMatch(/\r\x1b\[Kbackup \[\d+:\d\d\] .*\d+ files .*(B|KiB|MiB)/);
    expect(r.screen).toMatch(/\r\x1b\[KFiles: +2 new/);
    const wrong = await onTerminal(['snapshots', '--repo', path.join(dir, 'repo')], ['not it']);
    expect(wrong.code).toBe(12);
  });
});
