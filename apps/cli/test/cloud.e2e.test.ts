// End to end on the cloud stores: the built CLI against s3rver, the loopback GCS JSON-API server and
// Azurite, each started here on 127.0.0.1. For each of s3:, gs: and azure: URLs: init, backup of an
// awkward tree, check --read-data, restore, and a comparison of the restored tree with the original.
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { aes256gcm } from '@strata/cipher-aes-256-gcm';
import { zstdCodec } from '@strata/codec-zstd';
import { hasCode, retryingStore, type Store } from '@strata/core';
import { Repository } from '@strata/engine';
import { gcsStore } from '@strata/store-gcs';
import { faultyStore, startAzurite, startGcsServer, startS3Server, type FaultRule, type LoopbackServer } from '@strata/testkit';
import { baseEnv, removeDir, runCli, tempDir } from './helpers.js';

let dir: string;
let data: string;
let servers: LoopbackServer[] = [];
let env: Record<string, string>;

beforeAll(async () => {
  dir = await tempDir('strata-cloud-');
  data = path.join(dir, 'data');
  servers = await Promise.all([startS3Server({ buckets: ['strata-test'] }), startGcsServer({ buckets: ['strata-test'] }), startAzurite()]);
  env = { ...baseEnv(dir), STRATA_PASSWORD_FILE: path.join(dir, 'pw') };
  for (const s of servers) Object.assign(env, s.env);
  await writeFile(path.join(dir, 'pw'), 'correct horse battery staple\n');

  // The awkward tree: spaces, unicode (composed and not), an empty folder, a symlink, a nested
  // empty file, and a 3 MiB random file that spans several chunks.
  await mkdir(path.join(data, 'with space', 'deeper'), { recursive: true });
  await mkdir(path.join(data, 'empty dir'));
  await mkdir(path.join(data, 'ünïcødé 日本'));
  await writeFile(path.join(data, 'with space', 'a file.txt'), 'hello, cloud\n');
  await writeFile(path.join(data, 'with space', 'deeper', 'empty'), '');
  await writeFile(path.join(data, 'ünïcødé 日本', 'café.txt'), 'naïve\n');
  await writeFile(path.join(data, 'ünïcødé 日本', 'cafe\u0301.txt'), 'decomposed\n');
  await writeFile(path.join(data, 'big.bin'), randomBytes(3 * 1024 * 1024));
  await symlink('with space/a file.txt', path.join(data, 'link to file'));
  await symlink('does/not/exist', path.join(data, 'dangling link'));
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(servers.map((s) => s.stop()));
  if (dir) await removeDir(dir);
});

interface Entry {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeMs?: number;
  sha256?: string;
  target?: string;
}

/** Every entry below `root`, keyed by relative path: type, permission bits, mtime, content hash, link target. */
async function snapshotTree(root: string): Promise<Record<string, Entry>> {
  const out: Record<string, Entry> = {};
  async function walk(rel: string): Promise<void> {
    for (const name of (await readdir(path.join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const full = path.join(root, r);
      const st = await lstat(full);
      const mode = st.mode & 0o7777;
      if (st.isSymbolicLink()) out[r] = { type: 'symlink', mode: 0, target: await readlink(full) };
      else if (st.isDirectory()) {
        out[r] = { type: 'dir', mode };
        await walk(r);
      } else {
        out[r] = { type: 'file', mode, mtimeMs: Math.floor(st.mtimeMs), sha256: createHash('sha256').update(await readFile(full)).digest('hex') };
      }
    }
  }
  await walk('');
  return out;
}

const cli = (args: string[]) => runCli(args, { env, cwd: dir });

const cases = [
  { scheme: 's3', url: 's3:strata-test/e2e' },
  { scheme: 'gs', url: 'gs:strata-test/e2e' },
  { scheme: 'azure', url: 'azure:strata-test/e2e' },
];

for (const { scheme, url } of cases) {
  describe(`${scheme}: on the loopback server`, () => {
    let snapshotId = '';

    test('init creates the repository (and the container where missing)', async () => {
      const r = await cli(['init', '--repo', url]);
      expect(r.stderr).not.toContain('strata: ');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^created repository [0-9a-f]{10} at /);
    });

    test('backup of an awkward tree', async () => {
      const r = await cli(['backup', '--repo', url, data, '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      const summary = lines.find((l) => l.messageType === 'summary');
      expect(summary).toBeDefined();
      expect(summary.filesNew).toBe(5);
      snapshotId = summary.snapshotId;
      expect(snapshotId).toMatch(/^[0-9a-f]{64}$/);
    });

    test('check --read-data finds no errors', async () => {
      const r = await cli(['check', '--repo', url, '--read-data']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    });

    test('restore gives back the tree exactly', async () => {
      const target = path.join(dir, `restore-${scheme}`);
      const r = await cli(['restore', '--repo', url, snapshotId, '--target', target, '--verify']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      // Absolute paths land under the target, as restic does.
      expect(await snapshotTree(path.join(target, data))).toEqual(await snapshotTree(data));
    });
  });
}

describe('s3: with the endpoint in the URL (an S3-compatible service)', () => {
  test('init, backup and snapshots through s3:http://host:port/bucket/prefix', async () => {
    const s3 = servers.find((s) => s.name === 's3')!;
    const url = `s3:${s3.endpoint}/strata-test/endpoint-in-url`;
    // Only the keys come from the environment; endpoint and path style come from the URL.
    const { STRATA_S3_ENDPOINT: _e, STRATA_S3_PATH_STYLE: _p, ...rest } = env;
    const run = (args: string[]) => runCli(args, { env: rest, cwd: dir });
    const init = await run(['init', '--repo', url]);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain(`at s3:${s3.endpoint}/strata-test/endpoint-in-url`);
    expect((await run(['backup', '--repo', url, path.join(data, 'with space')])).code).toBe(0);
    const list = await run(['snapshots', '--repo', url, '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toHaveLength(1);
  });
});

// The engine through a faulty cloud store: the GCS store on the loopback server, wrapped in testkit's
// fault injector and then in the core retry policy (with no waiting), as the CLI wraps every store.
describe('through faults on a cloud store', () => {
  const gcs = () => servers.find((s) => s.name === 'gcs')!;
  const make = (prefix: string, rules: FaultRule[]) => {
    const inner = gcsStore({ bucket: 'strata-test', prefix, endpoint: gcs().endpoint, retry: false });
    const faulty = faultyStore(inner, rules);
    const store: Store = retryingStore(faulty, { sleep: async () => {}, maxAttempts: 8 });
    return { faulty, store };
  };
  const repoOptions = (store: Store) => ({ store, password: 'pw', codecs: [zstdCodec()], ciphers: [aes256gcm()], cacheDir: false as const, workers: 1 });
  const init = (store: Store) => Repository.init({ ...repoOptions(store), cipher: aes256gcm(), kdf: { N: 1024, r: 8, p: 1 } });

  test('backup, check and restore complete through 503s, resets and lost answers', async () => {
    const { faulty, store } = make('faults-transient', []);
    const repo = await init(store);
    faulty.rules.push(
      { fault: 'unavailable', operations: ['put'], after: 1, times: 3 },
      { fault: 'lost-answer', operations: ['put'], keyPrefix: 'data/', times: 1 },
      { fault: 'reset', operations: ['get', 'list', 'stat'], times: 4 },
      { fault: 'latency', latencyMs: 1, times: 20 },
    );
    const result = await repo.backup([data]);
    expect(result.errors).toEqual([]);
    expect((await repo.check({ readData: true })).ok).toBe(true);
    const target = path.join(dir, 'restore-faults');
    const restored = await repo.restore(result.snapshotId, target);
    expect(restored.success).toBe(true);
    expect(await snapshotTree(path.join(target, data))).toEqual(await snapshotTree(data));
    // Every rule acted: the faults really happened and were retried.
    expect(faulty.injected.unavailable).toBe(3);
    expect(faulty.injected['lost-answer']).toBe(1);
    expect(faulty.injected.reset).toBe(4);
    await repo.close();
  });

  test('a permanent fault is reported, not retried away', async () => {
    const { faulty, store } = make('faults-permanent', []);
    const repo = await init(store);
    faulty.rules.push({ fault: 'permanent', operations: ['put'], keyPrefix: 'data/' });
    const err = await repo.backup([data]).catch((e) => e);
    expect(hasCode(err, 'PERMISSION')).toBe(true);
    expect(faulty.injected.permanent).toBeGreaterThan(0);
    await repo.close();
  });

  test('a body cut short is caught by the hashes, never restored as good data', async () => {
    const { faulty, store } = make('faults-truncated', []);
    const repo = await init(store);
    const result = await repo.backup([data]);
    faulty.rules.push({ fault: 'truncate', operations: ['get'], keyPrefix: 'data/' });
    const check = await repo.check({ readData: true });
    expect(check.ok).toBe(false);
    expect(check.errors.length).toBeGreaterThan(0);
    const target = path.join(dir, 'restore-truncated');
    const restored = await repo.restore(result.snapshotId, target);
    expect(restored.success).toBe(false);
    const problems = [...restored.errors, ...restored.damaged];
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p.message).toMatch(/damaged|corrupt|SHA-256|hash/i);
    await repo.close();
  });
});
