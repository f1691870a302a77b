// The output rules: status lines with --json, the live line on a terminal, nothing otherwise.
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { Output } from '../src/output.js';

function stream(tty: boolean, columns = 80): NodeJS.WriteStream & { text(): string } {
  const s = new PassThrough() as unknown as NodeJS.WriteStream & { text(): string };
  const chunks: string[] = [];
  s.on('data', (d: Buffer) => chunks.push(d.toString()));
  Object.assign(s, { isTTY: tty, columns, text: () => chunks.join('') });
  return s;
}

const event = (i: number) => ({ phase: 'restore' as const, filesDone: i, filesTotal: 100, bytesDone: i * 1_048_576, bytesTotal: 100 * 1_048_576, elapsedMs: 1000 + i * 10, currentFile: `/srv/app/some/rather/long/path/name/file-${i}.bin` });

describe('Output', () => {
  test('--json: a burst of progress gives at most a first and a last status line', async () => {
    const stdout = stream(false);
    const out = new Output({ json: true, stdout, stderr: stream(true) });
    for (let i = 1; i <= 50; i++) out.progress(event(i));
    out.done();
    await new Promise((r) => setImmediate(r));
    const lines = stdout.text().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(lines[0]).toMatchObject({ messageType: 'status', phase: 'restore', filesDone: 1, totalFiles: 100, totalBytes: 104_857_600 });
    expect(lines[lines.length - 1]).toMatchObject({ messageType: 'status', filesDone: 50, percentDone: 0.5, currentFiles: ['/srv/app/some/rather/long/path/name/file-50.bin'] });
    expect(typeof lines[lines.length - 1].secondsRemaining).toBe('number');
  });

  test('on a terminal: one line redrawn in place, cut to the width, with rate and ETA; cleared at the end', async () => {
    const stderr = stream(true, 100);
    const out = new Output({ stdout: stream(false), stderr });
    out.progress(event(25));
    out.done();
    out.result('finished');
    await new Promise((r) => setImmediate(r));
    const text = stderr.text();
    expect(text.startsWith('\r\x1b[Krestore [0:01] 25.0% 25 / 100 files 25.00 MiB / 100.00 MiB ')).toBe(true);
    expect(text).toContain('/s ETA ');
    const line = text.split('\r\x1b[K')[1];
    expect(line.length).toBeLessThan(100);
    expect(line).toContain('...'); // the current file, shortened from the left
    expect(text.endsWith('\r\x1b[K')).toBe(true);
  });

  test('without a terminal, or with --quiet, progress prints nothing', async () => {
    for (const out of [new Output({ stdout: stream(false), stderr: stream(false) }), new Output({ quiet: true, stdout: stream(false), stderr: stream(true) })]) {
      out.progress(event(1));
      out.done();
    }
    const stderr = stream(false);
    const plain = new Output({ stdout: stream(false), stderr });
    plain.progress(event(1));
    plain.info('a note');
    await new Promise((r) => setImmediate(r));
    expect(stderr.text()).toBe('a note\n');
  });

  test('--quiet hides notes and warnings, never errors; --json hides human results', async () => {
    const stderr = stream(false);
    const stdout = stream(false);
    const quiet = new Output({ quiet: true, stdout, stderr });
    quiet.info('note');
    quiet.warn('careful');
    quiet.error('it broke; fix it');
    const json = new Output({ json: true, stdout, stderr });
    json.result('human text');
    json.document({ a: 1 });
    await new Promise((r) => setImmediate(r));
    expect(stderr.text()).toBe('strata: it broke; fix it\n');
    expect(JSON.parse(stdout.text())).toEqual({ a: 1 });
  });
});
