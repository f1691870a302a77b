// End to end: `strata forget` and `strata prune`, and retention of a backup set from the config file,
// with the built CLI against real local repositories.
import { randomBytes } from 'node:crypto';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { baseEnv, put, removeDir, runCli, tempDir } from './helpers.js';

let dir: string;
let env: Record<string, string>;

const cli = (args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) => runCli(args, { env: { ...env, ...options.env }, cwd: options.cwd ?? dir });

async function dirBytes(d: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(d, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += (await stat(path.join(e.parentPath, e.name))).size;
  }
  return n;
}

/** A repository with five daily snapshots of a folder whose files change every day. */
async function repoWithHistory(name: string): Promise<{ repo: string; data: string; ids: string[] }> {
  const repo = path.join(dir, name);
  const data = path.join(dir, `${name}-data`);
  expect((await cli(['init', '--repo', repo])).code).toBe(0);
  const ids: string[] = [];
  for (let day = 1; day <= 5; day++) {
    await put(path.join(data, `day${day}.bin`), randomBytes(150_000));
    if (day > 2) await rm(path.join(data, `day${day - 2}.bin`));
    const r = await cli(['backup', '--repo', repo, data, '--time', `2024-03-0${day}T12:00:00Z`, '--tag', `d${day}`, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    ids.push(r.stdout.trim());
  }
  return { repo, data, ids };
}

async function snapshotIds(repo: string): Promise<string[]> {
  const r = await cli(['snapshots', '--repo', repo, '--json']);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { id: string }[]).map((s) => s.id);
}

beforeAll(async () => {
  dir = await tempDir('strata-forget-');
  env = { ...baseEnv(dir), STRATA_PASSWORD_FILE: path.join(dir, 'pw'), TZ: 'UTC' };
  await writeFile(path.join(dir, 'pw'), 'correct horse battery staple\n');
});
afterAll(() => removeDir(dir));

describe('forget', () => {
  test('--dry-run lists what would go, with reasons, and removes nothing', async () => {
    const { repo, ids } = await repoWithHistory('dry');
    const r = await cli(['forget', '--repo', repo, '--keep-last', '2', '--keep-tag', 'd1', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('keep 3 snapshots:');
    expect(r.stdout).toContain('has tags [d1]');
    expect(r.stdout).toContain('last snapshot');
    expect(r.stdout).toContain('would remove 2 snapshots:');
    expect(r.stdout).toContain(ids[1].slice(0, 8));
    expect(r.stdout).toMatch(/would remove 2 snapshots \(dry run: nothing was changed\)\n$/);
    expect((await snapshotIds(repo)).sort()).toEqual([...ids].sort());
  });

  test('--json prints groups with keep, remove and reasons; the removed snapshots are gone', async () => {
    const { repo, ids } = await repoWithHistory('json');
    const r = await cli(['forget', '--repo', repo, '--keep-daily', '3', '--json']);
    expect(r.code).toBe(0);
    const groups = JSON.parse(r.stdout);
    expect(groups).toHaveLength(1);
    const g = groups[0];
    expect(g.key.paths).toEqual([path.join(dir, 'json-data')]);
    expect(g.keep.map((s: { id: string }) => s.id)).toEqual([ids[4], ids[3], ids[2]]);
    expect(g.remove.map((s: { id: string }) => s.id)).toEqual([ids[1], ids[0]]);
    expect(g.reasons.map((x: { snapshot: { id: string }; matches: string[] }) => [x.snapshot.id, x.matches])).toEqual([
      [ids[4], ['daily snapshot']],
      [ids[3], ['daily snapshot']],
      [ids[2], ['daily snapshot']],
    ]);
    expect(g.reasons[2].counters).toEqual({});
    expect((await snapshotIds(repo)).sort()).toEqual([ids[2], ids[3], ids[4]].sort());
  });

  test('days are local days: the same snapshots split differently in Europe/Berlin and in UTC', async () => {
    const repo = path.join(dir, 'tz');
    const data = path.join(dir, 'tz-data');
    await put(path.join(data, 'x'), 'x');
    expect((await cli(['init', '--repo', repo])).code).toBe(0);
    // 22:30Z is 23:30 in Berlin (the 27th); 23:30Z is 00:30 on the 28th there.
    for (const time of ['2021-03-27T22:30:00Z', '2021-03-27T23:30:00Z', '2021-03-28T01:30:00Z']) {
      expect((await cli(['backup', '--repo', repo, data, '--time', time, '--quiet'])).code).toBe(0);
    }
    const keptIn = async (tz: string) => {
      const r = await cli(['forget', '--repo', repo, '--keep-daily', '2', '--dry-run', '--json'], { env: { TZ: tz } });
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout)[0].keep.map((s: { time: string }) => s.time);
    };
    expect(await keptIn('Europe/Berlin')).toEqual(['2021-03-28T01:30:00.000Z', '2021-03-27T22:30:00.000Z']);
    expect(await keptIn('UTC')).toEqual(['2021-03-28T01:30:00.000Z', '2021-03-27T23:30:00.000Z']);
  });

  test('--prune frees the space of the removed snapshots; check --read-data is clean and the kept one restores', async () => {
    const { repo, data, ids } = await repoWithHistory('prune');
    const before = await dirBytes(repo);
    const r = await cli(['forget', '--repo', repo, '--keep-last', '1', '--prune']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('removed 4 snapshots');
    const freed = /; ([\d.]+) KiB freed/.exec(r.stdout);
    expect(freed).not.toBeNull();
    // The newest snapshot holds day4 and day5; day1..day3 (3 x 150 kB of random data) go.
    expect(Number(freed![1]) * 1024).toBeGreaterThan(3 * 150_000 * 0.95);
    expect(before - (await dirBytes(repo))).toBeGreaterThan(3 * 150_000 * 0.95);
    const check = await cli(['check', '--repo', repo, '--read-data']);
    expect(check.code).toBe(0);
    const target = path.join(dir, 'prune-restore');
    expect((await cli(['restore', ids[4], '--repo', repo, '--target', target])).code).toBe(0);
    expect((await readdir(path.join(target, data))).sort()).toEqual(['day4.bin', 'day5.bin']);
  });

  test('bad options are refused with a sentence naming the flag', async () => {
    // Refused before the repository is opened: it need not exist.
    const repo = path.join(dir, 'never-created');
    const a = await cli(['forget', '--repo', repo, '--keep-daily', 'x']);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain('--keep-daily expects a whole number');
    const b = await cli(['forget', '--repo', repo, '--keep-within', '5w']);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('--keep-within expects a duration');
    const c = await cli(['forget', '--repo', repo, '--keep-last', '1', '--group-by', 'user']);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('--group-by expects host, paths and/or tags');
    const d = await cli(['prune', '--repo', repo, '--max-unused', '150%']);
    expect(d.code).toBe(1);
    expect(d.stderr).toContain('--max-unused expects a percentage');
  });

  test('with no keep option and no policy in a config file, nothing is removed', async () => {
    const { repo, ids } = await repoWithHistory('empty');
    const r = await cli(['forget', '--repo', repo]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('nothing will be removed');
    expect(r.stdout).toContain('removed 0 snapshots');
    expect(await snapshotIds(repo)).toHaveLength(ids.length);
  });
});

describe('prune', () => {
  test('--dry-run --json reports a plan and changes nothing; the real run frees what it said', async () => {
    const { repo } = await repoWithHistory('plan');
    expect((await cli(['forget', '--repo', repo, '--keep-last', '2'])).code).toBe(0);
    const before = await dirBytes(repo);
    const dry = await cli(['prune', '--repo', repo, '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout.trim().split('\n').pop()!);
    expect(plan).toMatchObject({ messageType: 'summary', dryRun: true });
    expect(plan.packsDeleted).toBeGreaterThan(0);
    expect(await dirBytes(repo)).toBe(before);
    const real = await cli(['prune', '--repo', repo, '--json']);
    expect(real.code).toBe(0);
    const done = JSON.parse(real.stdout.trim().split('\n').pop()!);
    expect(done.dryRun).toBe(false);
    expect(done.packsDeleted).toBe(plan.packsDeleted);
    expect(before - (await dirBytes(repo))).toBe(done.bytesFreed);
    const human = await cli(['prune', '--repo', repo]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/0 B freed\n$/);
  });
});

describe('retention of a backup set', () => {
  test('retentionDays: 30 reads as keep-within 30d and applies after each backup of the set', async () => {
    const repo = path.join(dir, 'set');
    const data = path.join(dir, 'set-data');
    await put(path.join(data, 'a'), 'a');
    await writeFile(path.join(dir, 'strata.config.json'), JSON.stringify({ repository: repo, sets: { web: { paths: [data], retentionDays: 30 }, other: { paths: [data] } } }));
    expect((await cli(['init'])).code).toBe(0);
    const first = await cli(['backup', '--set', 'web', '--time', '2024-01-01T00:00:00Z', '--quiet']);
    expect(first.code).toBe(0);
    const untouched = await cli(['backup', '--set', 'other', '--time', '2023-01-01T00:00:00Z', '--quiet']);
    expect(untouched.code).toBe(0);
    const mid = await cli(['backup', '--set', 'web', '--time', '2024-01-20T00:00:00Z', '--quiet']);
    expect(mid.code).toBe(0);
    expect(await snapshotIds(repo)).toHaveLength(3);
    // 2024-02-15 minus 30 days is 2024-01-16: the 01-01 snapshot of "web" goes, "other" is not its set.
    const last = await cli(['backup', '--set', 'web', '--time', '2024-02-15T00:00:00Z']);
    expect(last.code).toBe(0);
    expect(last.stderr).toContain('retention of set web: kept 2, removed 1 snapshot');
    const left = await snapshotIds(repo);
    expect(left).toHaveLength(3);
    expect(left).not.toContain(first.stdout.trim());
    expect(left).toContain(untouched.stdout.trim());
    await rm(path.join(dir, 'strata.config.json'));
  });

  test('a set retention with "prune": true prunes after the backup', async () => {
    const repo = path.join(dir, 'set-prune');
    const data = path.join(dir, 'set-prune-data');
    const cfg = path.join(dir, 'prune.config.json');
    await writeFile(cfg, JSON.stringify({ repository: repo, sets: { db: { paths: [data], retention: { keepLast: 1, prune: true } } } }));
    expect((await cli(['init', '--config', cfg])).code).toBe(0);
    await put(path.join(data, 'dump.bin'), randomBytes(200_000));
    expect((await cli(['backup', '--config', cfg, '--set', 'db', '--quiet'])).code).toBe(0);
    await put(path.join(data, 'dump.bin'), randomBytes(200_000));
    const r = await cli(['backup', '--config', cfg, '--set', 'db']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/retention of set db: pruned \d+ packs, [\d.]+ KiB freed/);
    expect(await snapshotIds(repo)).toHaveLength(1);
    expect((await cli(['check', '--config', cfg, '--read-data'])).code).toBe(0);
  });

  test('forget with no keep option uses the config file\'s policy', async () => {
    const { repo, ids } = await repoWithHistory('cfg');
    const cfg = path.join(dir, 'keep2.config.json');
    await writeFile(cfg, JSON.stringify({ repository: repo, retention: { keepLast: 2 } }));
    const r = await cli(['forget', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('using the retention policy of');
    expect((await snapshotIds(repo)).sort()).toEqual([ids[3], ids[4]].sort());
  });
});
