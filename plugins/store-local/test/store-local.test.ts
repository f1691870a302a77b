import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasCode, type StoreDescriptor } from '@strata/core';
import { storeContract } from '@strata/testkit';
import { localStore, localStoreDescriptor, plugins, type LocalStoreDescriptorOptions } from '@strata/store-local';
import { contentFor, contestedKey, distinctKey, DISTINCT_PER_WRITER, sharedContent, SHARED_KEY } from './fixtures/writer-data.js';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'strata-store-local-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

storeContract({ describe, test, expect }, (prefix) => localStore(join(root, 'contract', prefix)), { name: 'local' });

/** Every file name under `dir`, temporary files included (list() hides those). */
async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

async function caught(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** Runs a fixture script in its own Node process (TypeScript through tsx, sources through strata-source). */
function node(script: string, args: string[], options: { withoutRootPowers?: boolean } = {}) {
  const argv = [process.execPath, '--conditions=strata-source', '--import', 'tsx', join('test', 'fixtures', script), ...args];
  // As root, file modes do not apply; setpriv (util-linux) drops the capabilities that bypass them.
  if (options.withoutRootPowers) argv.unshift('setpriv', '--bounding-set=-dac_override,-dac_read_search', '--');
  const child = spawn(argv[0], argv.slice(1), { cwd: pkgDir, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<string>((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done(stdout) : fail(new Error(`${script} exited with ${code}: ${stderr}`))));
  });
  const ready = new Promise<void>((done) => {
    const check = () => (stdout.includes('ready\n') ? done() : child.stdout.once('data', check));
    check();
  });
  return { child, exited, ready };
}

describe('local store', () => {
  test('several processes at once: one winner per contested key, whole objects, no temp files', async () => {
    const dir = join(root, 'processes');
    const store = localStore(dir);
    await store.create();
    const writers = 4;
    const contested = 40;
    const runs = Array.from({ length: writers }, (_, id) => node('writer.ts', [dir, String(id), String(contested)]));
    await Promise.all(runs.map((r) => r.ready));
    for (const r of runs) r.child.stdin.end('go\n');
    const reports = (await Promise.all(runs.map((r) => r.exited))).map((out) => JSON.parse(out.trim().split('\n').pop()!) as { won: string[]; lost: { key: string; code: string }[] });

    for (let n = 0; n < contested; n++) {
      const key = contestedKey(n);
      const winners = reports.flatMap((r, id) => (r.won.includes(key) ? [id] : []));
      expect(winners, `winners of ${key}`).toHaveLength(1);
      expect(reports.filter((r) => r.lost.some((l) => l.key === key && l.code === 'ALREADY_EXISTS')), `losers of ${key}`).toHaveLength(writers - 1);
      expect(Buffer.from(await store.get(key)).equals(Buffer.from(contentFor(winners[0], n))), `${key} holds its winner's bytes whole`).toBe(true);
    }
    for (let id = 0; id < writers; id++) {
      for (let n = 0; n < DISTINCT_PER_WRITER; n++) {
        expect(Buffer.from(await store.get(distinctKey(id, n))).equals(Buffer.from(contentFor(id, 1000 + n)))).toBe(true);
      }
    }
    expect(Buffer.from(await store.get(SHARED_KEY)).equals(Buffer.from(sharedContent))).toBe(true);
    const files = await allFiles(dir);
    expect(files.filter((f) => f.includes('.tmp-')), 'temporary files left').toEqual([]);
    expect(files).toHaveLength(contested + writers * DISTINCT_PER_WRITER + 1);
  });

  test('files land under the root as the key says, private, with no temporary file left', async () => {
    const dir = join(root, 'layout');
    const store = localStore(dir);
    await store.create();
    const id = 'ab'.repeat(32);
    await store.put(`data/ab/${id}`, new Uint8Array([1, 2, 3]));
    await store.put('config', new Uint8Array([4]), { ifAbsent: true });
    expect(await readFile(join(dir, 'data', 'ab', id))).toEqual(Buffer.from([1, 2, 3]));
    expect((await allFiles(dir)).sort()).toEqual(['config', join('data', 'ab', id)]);
    expect((await stat(join(dir, 'config'))).mode & 0o777).toBe(0o600 & ~process.umask());
    expect((await stat(join(dir, 'data', 'ab'))).mode & 0o777).toBe(0o700 & ~process.umask());
    expect((await stat(join(dir, 'config'))).nlink, 'the ifAbsent link is undone').toBe(1);
  });

  test('list() skips temporary files of an interrupted write', async () => {
    const dir = join(root, 'interrupted');
    const store = localStore(dir);
    await store.create();
    await store.put('data/cd/ok', new Uint8Array([1]));
    await writeFile(join(dir, 'data', 'cd', '.tmp-0123abcd'), 'half a pack');
    expect((await collect(store.list(''))).map((i) => i.key)).toEqual(['data/cd/ok']);
  });

  test('a ranged get reads only its range (a sparse 6 GiB object)', async () => {
    const dir = join(root, 'sparse');
    const store = localStore(dir);
    await store.create();
    await store.put('data/00/big', new Uint8Array(0));
    const size = 6 * 1024 ** 3;
    const handle = await open(join(dir, 'data', '00', 'big'), 'r+');
    await handle.truncate(size);
    await handle.write(Buffer.from('tail!'), 0, 5, size - 5);
    await handle.close();
    expect(await store.stat('data/00/big')).toEqual({ key: 'data/00/big', size });
    // A whole-file read would need a 6 GiB buffer, more than Node allows.
    expect(Buffer.from(await store.get('data/00/big', { offset: size - 5 })).toString()).toBe('tail!');
    expect(Buffer.from(await store.get('data/00/big', { offset: size - 8, length: 4 }))).toEqual(Buffer.from([0, 0, 0, 116]));
  });

  test('get() reads into a caller buffer large enough (shared ones too), else into a new one', async () => {
    const store = localStore(join(root, 'into'));
    await store.create();
    const bytes = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
    await store.put('data/ab/pack', bytes);
    for (const into of [new Uint8Array(2000), new Uint8Array(new SharedArrayBuffer(1000))]) {
      into.fill(0xee);
      const whole = await store.get('data/ab/pack', undefined, { into });
      expect(whole.buffer).toBe(into.buffer);
      expect(whole.byteOffset).toBe(0);
      expect(Array.from(whole)).toEqual(Array.from(bytes));
      const part = await store.get('data/ab/pack', { offset: 990, length: 50 }, { into });
      expect(part.buffer).toBe(into.buffer);
      expect(Array.from(part)).toEqual(Array.from(bytes.subarray(990)));
    }
    const small = new Uint8Array(999);
    const fresh = await store.get('data/ab/pack', undefined, { into: small });
    expect(fresh.buffer).not.toBe(small.buffer);
    expect(Array.from(fresh)).toEqual(Array.from(bytes));
    expect(small.every((b) => b === 0)).toBe(true);
  });

  test('put() into a missing root says to run init and creates nothing; create() makes the folder', async () => {
    const dir = join(root, 'missing', 'repo');
    const store = localStore(dir);
    const err = await caught(store.put('config', new Uint8Array([1])));
    expect(hasCode(err, 'STORE')).toBe(true);
    expect(err.message).toContain(dir);
    expect(err.message).toContain('strata init');
    await expect(stat(join(root, 'missing'))).rejects.toThrow();
    await store.create();
    await store.create();
    await store.put('config', new Uint8Array([1]));
    expect(Array.from(await store.get('config'))).toEqual([1]);
  });

  test('keys that could leave the root or hide as temporary files are refused', async () => {
    const store = localStore(join(root, 'keys'));
    for (const key of ['', '../escape', 'data/../../x', '/etc/passwd', 'a//b', 'data/', 'Data/x', 'a\\b', 'data/.tmp-1', '.', 'a/./b']) {
      expect(hasCode(await caught(store.put(key, new Uint8Array(1))), 'INVALID_ARGUMENT'), `put ${JSON.stringify(key)}`).toBe(true);
      expect(hasCode(await caught(store.get(key)), 'INVALID_ARGUMENT'), `get ${JSON.stringify(key)}`).toBe(true);
    }
    for (const range of [{ offset: -1 }, { offset: 0, length: -1 }, { offset: 1.5 }]) {
      expect(hasCode(await caught(store.get('config', range)), 'INVALID_ARGUMENT'), JSON.stringify(range)).toBe(true);
    }
  });

  test('permission denied is a PermissionError naming the path', async () => {
    const dir = join(root, 'private');
    const store = localStore(dir);
    await store.create();
    await store.put('keys/k1', new Uint8Array([1]));
    await chmod(join(dir, 'keys'), 0o000);
    try {
      for (const [op, key] of [['get', 'keys/k1'], ['put', 'keys/k2'], ['list', 'keys/']]) {
        const { exited } = node('try-access.ts', [dir, op, key], { withoutRootPowers: process.getuid?.() === 0 });
        const outcome = JSON.parse((await exited).trim());
        expect(outcome, op).toMatchObject({ ok: false, name: 'PermissionError', code: 'PERMISSION', component: 'local' });
        expect(outcome.message, op).toContain(join(dir, 'keys'));
      }
    } finally {
      await chmod(join(dir, 'keys'), 0o700);
    }
  });

  test('the local descriptor parses local: URLs and plain paths and round-trips', async () => {
    const d: StoreDescriptor<LocalStoreDescriptorOptions> = localStoreDescriptor;
    expect(plugins).toContain(localStoreDescriptor);
    expect(d.kind).toBe('store');
    expect(d.scheme).toBe('local');
    expect(d.parse('local:/backups/app')).toEqual({ path: '/backups/app' });
    expect(d.parse('/backups/app')).toEqual({ path: '/backups/app' });
    expect(d.parse('relative/repo')).toEqual({ path: 'relative/repo' });
    expect(d.redact('local:/backups/app')).toBe('local:/backups/app');
    for (const bad of ['local:', '', 's3:bucket/prefix']) expect(() => d.parse(bad), bad).toThrow(/local/);
    for (const url of ['local:/backups/app', '/srv/backups', 'local:relative/repo']) {
      const options = d.parse(url);
      const store = await d.create(options);
      expect(store.location).toBe(`local:${resolve(options.path)}`);
      expect(d.parse(d.describe(options))).toEqual(options);
    }
  });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
