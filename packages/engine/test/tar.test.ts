import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { InvalidArgumentError, StrataError } from '@strata/core';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { type TarEntry, TarWriter, writeChunk, writeTar } from '../src/tar.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'strata-tar-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function tar(args: string[], cwd?: string): string {
  const r = spawnSync('tar', args, { cwd, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8', TZ: 'UTC' } });
  if (r.status !== 0) throw new Error(`tar ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Writes entries to a file through a stream with a tiny buffer, so backpressure is exercised. */
async function writeArchive(file: string, items: { entry: TarEntry; body?: Uint8Array[] }[]): Promise<void> {
  const out = createWriteStream(file, { highWaterMark: 1024 });
  const tw = new TarWriter(out);
  for (const { entry, body } of items) {
    await tw.add(
      entry,
      body &&
        (async function* () {
          for (const b of body) yield b;
        })(),
    );
  }
  await tw.finish();
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

function pieces(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('TarWriter read back by GNU tar', () => {
  test('files, dirs, links, long and non-ASCII names, modes, owners, ns mtimes', async () => {
    const dir = await tempDir();
    const file = join(dir, 'out.tar');
    const big = randomBytes(3 * 1024 * 1024 + 123);
    const small = new TextEncoder().encode('hello tar\n');
    const longDir = `top/${'d'.repeat(60)}/${'e'.repeat(60)}`; // over 100 bytes, splits into prefix + name
    const veryLong = `top/${'x'.repeat(120)}/${'y'.repeat(120)}/${'z'.repeat(50)}.bin`; // over 256: pax path
    const binaryName = new Uint8Array([...Buffer.from('top/'), 0xff, 0x41, 0x80]);
    const longTarget = `../${'t'.repeat(150)}`;
    const mtimeNs = 1_700_000_000_123_456_789n;

    await writeArchive(file, [
      { entry: { path: '/top', type: 'dir', mode: 0o750, uid: 1000, gid: 1000, mtimeNs: 1_600_000_000_000_000_000n } },
      { entry: { path: 'top/small.txt', type: 'file', mode: 0o640, uid: 1234, gid: 5678, size: small.length, mtimeNs }, body: [small] },
      { entry: { path: 'top/big.bin', type: 'file', mode: 0o600, size: big.length, mtime: new Date('2020-01-02T03:04:05.678Z') }, body: pieces(big, 65_536) },
      { entry: { path: 'top/empty', type: 'file', mode: 0o644, size: 0 } },
      { entry: { path: longDir, type: 'dir', mode: 0o755 } },
      { entry: { path: `${longDir}/f`, type: 'file', mode: 0o644, size: 3 }, body: [new Uint8Array([1, 2, 3])] },
      { entry: { path: 'top/x', type: 'dir', mode: 0o755 } },
      { entry: { path: `top/x/${'x'.repeat(120)}`, type: 'dir', mode: 0o755 } },
      { entry: { path: `top/x/${'x'.repeat(120)}/${'y'.repeat(120)}`, type: 'dir', mode: 0o755 } },
      { entry: { path: veryLong.replace('top/', 'top/x/'), type: 'file', mode: 0o644, size: 5 }, body: [new TextEncoder().encode('deep!')] },
      { entry: { path: 'top/naïve 日本.txt', type: 'file', mode: 0o644, size: 2, uname: 'jürgen', gname: 'staff' }, body: [new Uint8Array([0xc3, 0xa9])] },
      { entry: { path: binaryName, type: 'file', mode: 0o644, size: 1 }, body: [new Uint8Array([7])] },
      { entry: { path: 'top/link', type: 'symlink', mode: 0o777, linkname: 'small.txt' } },
      { entry: { path: 'top/longlink', type: 'symlink', mode: 0o777, linkname: longTarget } },
      { entry: { path: 'top/hard', type: 'hardlink', mode: 0o640, linkname: '/top/small.txt' } },
      { entry: { path: 'top/fifo', type: 'fifo', mode: 0o600 } },
      { entry: { path: 'top/exec', type: 'file', mode: 0o4755, size: 1 }, body: [new Uint8Array([0x23])] },
    ]);

    const listing = tar(['-tvf', file, '--numeric-owner', '--quoting-style=literal']);
    expect(listing).toContain('1234/5678');
    expect(listing).toContain('top/naïve 日本.txt');
    expect(listing).toContain(`top/longlink -> ${longTarget}`);
    expect(listing).toContain('top/hard link to top/small.txt');
    expect(listing).toMatch(/^p.*top\/fifo$/m);
    const names = tar(['-tf', file, '--quoting-style=literal']).split('\n').filter(Boolean);
    expect(names).toContain(`${longDir}/f`);
    expect(names).toContain(veryLong.replace('top/', 'top/x/'));
    expect(names.length).toBe(17);

    const out = join(dir, 'x');
    await mkdir(out);
    tar(['-xpf', file, '--no-same-owner', '-C', out]);
    const top = join(out, 'top');
    expect(readFileSync(join(top, 'small.txt')).toString()).toBe('hello tar\n');
    expect(sha(readFileSync(join(top, 'big.bin')))).toBe(sha(big));
    expect(readFileSync(join(top, 'empty')).length).toBe(0);
    expect([...readFileSync(join(out, longDir, 'f'))]).toEqual([1, 2, 3]);
    expect(readFileSync(join(out, veryLong.replace('top/', 'top/x/'))).toString()).toBe('deep!');
    expect([...readFileSync(join(top, 'naïve 日本.txt'))]).toEqual([0xc3, 0xa9]);
    const raw = readdirSync(top, { encoding: 'buffer' }).find((n) => n[0] === 0xff);
    expect(raw && [...raw]).toEqual([0xff, 0x41, 0x80]);
    expect(readlinkSync(join(top, 'link'))).toBe('small.txt');
    expect(readlinkSync(join(top, 'longlink'))).toBe(longTarget);
    expect(statSync(join(top, 'hard')).ino).toBe(statSync(join(top, 'small.txt')).ino);
    expect(lstatSync(join(top, 'fifo')).isFIFO()).toBe(true);
    expect(statSync(join(top, 'small.txt')).mode & 0o7777).toBe(0o640);
    expect(statSync(join(top, 'big.bin')).mode & 0o7777).toBe(0o600);
    expect(statSync(join(top, 'exec')).mode & 0o7777).toBe(0o4755);
    expect(statSync(join(top, 'small.txt'), { bigint: true }).mtimeNs).toBe(mtimeNs);
    expect(statSync(join(top, 'big.bin'), { bigint: true }).mtimeNs).toBe(1_577_934_245_678_000_000n);
    expect(statSync(top, { bigint: true }).mtimeNs).toBe(1_600_000_000_000_000_000n);
    expect(statSync(top).mode & 0o7777).toBe(0o750);
  });

  test('random path names round trip (property test)', async () => {
    const dir = await tempDir();
    const alphabet = fc.constantFrom(...Array.from('abcXYZ019 -_.,+=@éü日本語🙂'), 'ab', 'long-component-');
    const component = fc.array(alphabet, { minLength: 1, maxLength: 40 }).map((a) => a.join('')).filter((c) => c !== '.' && c !== '..');
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.array(component, { minLength: 1, maxLength: 8 }).map((c) => c.join('/')), { minLength: 1, maxLength: 6 }), async (paths) => {
        const file = join(dir, 'prop.tar');
        await writeArchive(
          file,
          paths.map((p, i) => ({ entry: { path: p, type: 'file' as const, mode: 0o644, size: 1 }, body: [new Uint8Array([i])] })),
        );
        const names = tar(['-tf', file, '--quoting-style=literal']).split('\n').filter(Boolean);
        expect(names).toEqual(paths);
      }),
      { numRuns: 25 },
    );
  });
});

describe('TarWriter errors and streaming', () => {
  test('a body shorter or longer than the declared size is refused', async () => {
    const sink = new PassThrough();
    sink.resume();
    const tw = new TarWriter(sink);
    await expect(tw.add({ path: 'a', type: 'file', mode: 0o644, size: 10 }, [new Uint8Array(5)])).rejects.toBeInstanceOf(InvalidArgumentError);
    const tw2 = new TarWriter(sink);
    await expect(tw2.add({ path: 'a', type: 'file', mode: 0o644, size: 3 }, [new Uint8Array(2), new Uint8Array(2)])).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(new TarWriter(sink).add({ path: 'a', type: 'file', mode: 0o644 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(new TarWriter(sink).add({ path: 'l', type: 'symlink', mode: 0o777 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  test('waits for drain and fails when the output closes mid-entry', async () => {
    let accepted = 0;
    const slow = new Writable({
      highWaterMark: 512,
      write(chunk: Buffer, _enc, cb) {
        accepted += chunk.length;
        if (accepted > 64 * 1024) cb(new Error('disk full'));
        else setImmediate(cb);
      },
    });
    slow.on('error', () => {});
    const tw = new TarWriter(slow);
    const body = (async function* () {
      for (let i = 0; i < 100; i++) yield new Uint8Array(4096);
    })();
    const failure = await tw.add({ path: 'big', type: 'file', mode: 0o644, size: 100 * 4096 }, body).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect(failure instanceof StrataError ? failure.code : (failure as Error).message).toMatch(/ABORTED|disk full/);
    expect(accepted).toBeLessThan(80 * 1024);
  });

  test('writeTar writes a complete archive', async () => {
    const dir = await tempDir();
    const file = join(dir, 'w.tar');
    const out = createWriteStream(file);
    await writeTar(
      out,
      (async function* () {
        yield { entry: { path: 'd', type: 'dir' as const, mode: 0o755 } };
        yield { entry: { path: 'd/f', type: 'file' as const, mode: 0o644, size: 3 }, body: [new TextEncoder().encode('abc')] };
      })(),
    );
    await new Promise<void>((resolve) => out.end(resolve));
    expect(tar(['-tf', file]).split('\n').filter(Boolean)).toEqual(['d/', 'd/f']);
    // Archive length: 3 headers... 2 entries x (header + at most one data block) + 2 end blocks, in 512-byte blocks.
    expect(statSync(file).size % 512).toBe(0);
  });
});

describe('writeChunk', () => {
  test('rejects instead of waiting forever when the reader goes away', async () => {
    // A sink that never calls back: its buffer stays full until it is destroyed.
    const sink = new Writable({ highWaterMark: 4, write() {} });
    const pending = writeChunk(sink, new Uint8Array(64), 'engine');
    sink.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(writeChunk(sink, new Uint8Array(1), 'engine')).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
