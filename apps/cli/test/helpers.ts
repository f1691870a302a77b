/** Helpers for the CLI tests: run the built CLI as a real process, make temporary folders. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to stdin, then stdin is closed. Without it stdin is empty (closed at once). */
  input?: string | Buffer;
  /**
   * Drop the capabilities that let root ignore file modes (as root only), so a chmod 000 file is
   * really unreadable, as it is for any other user.
   */
  withoutRootPowers?: boolean;
}

/** A clean environment: no STRATA_* from the caller, HOME in a temp dir so no real cache is touched. */
export function baseEnv(home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('STRATA_')) env[k] = v;
  env.HOME = home;
  env.XDG_CACHE_HOME = path.join(home, '.cache');
  env.STRATA_TEST_KDF_N = '1024';
  return env;
}

export function spawnCli(args: string[], options: RunOptions = {}): ChildProcess {
  const argv = [process.execPath, CLI, ...args];
  if (options.withoutRootPowers && process.getuid?.() === 0) argv.unshift('setpriv', '--bounding-set=-dac_override,-dac_read_search', '--');
  return spawn(argv[0], argv.slice(1), { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Collects a spawned CLI's output and exit code. */
export function finish(child: ChildProcess): Promise<RunResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code: code ?? (signal ? 128 : -1), stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
  });
}

export async function runCli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const child = spawnCli(args, options);
  const done = finish(child);
  child.stdin!.on('error', () => {});
  child.stdin!.end(options.input ?? '');
  return done;
}

export async function tempDir(prefix = 'strata-cli-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Writes a file, making parent folders. */
export async function put(file: string, content: string | Buffer): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}
