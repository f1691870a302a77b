// End to end: the built CLI against a real local repository in a temporary folder. One repository
// is shared by the tests of this file, in order (init, backups, then the commands that read it).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { baseEnv, put, removeDir, runCli, tempDir } from './helpers.js';

let dir: string;
let data: string;
let repo: string;
let env: Record<string, string>;
const ids: Record<string, string> = {};

const cli = (args: string[], options: { input?: string | Buffer; cwd?: string; env?: Record<string, string> } = {}) =>
  runCli(args, { env: { ...env, ...options.env }, cwd: options.cwd ?? dir, input: options.input });

beforeAll(async () => {
  dir = await tempDir();
  data = path.join(dir, 'data');
  repo = path.join(dir, 'repo');
  env = { ...baseEnv(dir), STRATA_REPOSITORY: repo, STRATA_PASSWORD_FILE: path.join(dir, 'pw') };
  await writeFile(path.join(dir, 'pw'), 'correct horse battery staple\n');
  await put(path.join(data, 'a.txt'), 'hello strata\n');
  await put(path.join(data, 'sub', 'b.bin'), randomBytes(200_000));
  await put(path.join(data, 'sub', 'c.txt'), 'c'.repeat(10_000));
  await put(path.join(data, 'skip.tmp'), 'temporary');
  await put(path.join(data, 'logs', 'x.log'), 'log line\n');
  await mkdir(path.join(data, 'empty'));
  await symlink('a.txt', path.join(data, 'link'));
  await writeFile(path.join(dir, 'excludes'), '*.log\n');
});
afterAll(() => removeDir(dir));

describe('init', () => {
  test('creates the repository and says where', async () => {
    const r = await cli(['init']);
    expect(r.stderr).not.toContain('strata: ');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^created repository [0-9a-f]{10} at local:${repo}\\n$`));
  });

  test('a second init of the same place fails and says so', async () => {
    const r = await cli(['init']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`strata: repository local:${repo} already exists; use it as it is, or choose another --repo\n`);
  });

  test('--json prints the repository as one document; --encryption and --compression are kept', async () => {
    const other = path.join(dir, 'repo-chacha');
    const r = await cli(['init', '--repo', `local:${other}`, '--encryption', 'chacha20-poly1305', '--compression', 'gzip:6', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ messageType: 'initialized', repository: `local:${other}`, cipher: 'chacha20-poly1305', compression: 'gzip:6' });
    expect(doc.id).toMatch(/^[0-9a-f]+$/);
  });
});

describe('backup', () => {
  test('makes a snapshot and prints a summary ending with its id', async () => {
    const r = await cli(['backup', data, '--tag', 'first', '--tag', 'x,y', '--exclude', '*.tmp', '--exclude-file', path.join(dir, 'excludes'), '--host', 'web-1', '--time', '2026-01-02T03:04:05Z']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Files: +3 new, 0 changed, 0 unmodified$/m);
    const m = /^snapshot ([0-9a-f]{8}) saved$/m.exec(r.stdout);
    expect(m).not.toBeNull();
    ids.first = m![1];
  });

  test('the snapshot has the host, tags, time and paths given, and the excludes applied', async () => {
    const r = await cli(['snapshots', '--json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list).toHaveLength(1);
    const s = list[0];
    for (const key of ['id', 'time', 'host', 'paths', 'tags', 'type', 'parent']) expect(s).toHaveProperty(key);
    expect(s.id.startsWith(ids.first)).toBe(true);
    expect(s).toMatchObject({ host: 'web-1', paths: [data], tags: ['first', 'x', 'y'], type: 'incremental', time: '2026-01-02T03:04:05.000Z' });
    ids.firstFull = s.id;
    const ls = JSON.parse((await cli(['ls', ids.first, '--json'])).stdout) as { path: string }[];
    const names = ls.map((e) => e.path);
    expect(names).toContain(path.join(data, 'a.txt'));
    expect(names).not.toContain(path.join(data, 'skip.tmp'));
    expect(names).not.toContain(path.join(data, 'logs', 'x.log'));
  });

  test('--json prints status lines, then the summary with its figures', async () => {
    await writeFile(path.join(data, 'sub', 'c.txt'), 'changed content');
    const r = await cli(['backup', data, '--json', '--host', 'web-1', '--tag', 'first', '--tag', 'x,y', '--exclude', '*.tmp', '--exclude-file', path.join(dir, 'excludes')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const summary = lines[lines.length - 1];
    for (const l of lines.slice(0, -1)) expect(l.messageType).toBe('status');
    expect(summary).toMatchObject({ messageType: 'summary', filesNew: 0, filesChanged: 1, filesUnmodified: 2, filesUnreadable: 0, errors: [] });
    for (const key of ['snapshotId', 'dataAdded', 'totalBytesProcessed', 'durationMs', 'dirsNew', 'dataAddedPacked', 'totalFilesProcessed']) expect(summary).toHaveProperty(key);
    expect(summary.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    ids.second = summary.snapshotId;
    const snap = JSON.parse((await cli(['snapshots', ids.second, '--json'])).stdout)[0];
    expect(snap.parent).toBe(ids.firstFull);
  });

  test('--quiet prints only the snapshot id; --type full has no parent and re-reads every file', async () => {
    const r = await cli(['backup', data, '--quiet', '--type', 'full', '--host', 'db-1', '--detector', 'sha256', '--verify']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    ids.full = r.stdout.trim();
    const snap = JSON.parse((await cli(['snapshots', ids.full.slice(0, 12), '--json'])).stdout)[0];
    expect(snap).toMatchObject({ type: 'full', parent: null, host: 'db-1' });
    expect(snap.summary.filesUnmodified).toBe(0);
  });

  test('--stdin backs up a stream as one file, and dump gives it back byte for byte', async () => {
    const dumpBytes = randomBytes(100_000);
    const r = await cli(['backup', '--stdin', '--stdin-filename', 'db.sql', '--tag', 'db', '--quiet'], { input: dumpBytes });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    ids.stdin = r.stdout.trim();
    const ls = JSON.parse((await cli(['ls', ids.stdin, '--json'])).stdout) as { path: string; size: number }[];
    expect(ls.find((e) => e.path.endsWith('db.sql'))?.size).toBe(100_000);
    ids.stdinPath = ls.find((e) => e.path.endsWith('db.sql'))!.path;
    const out = await cli(['dump', ids.stdin, ids.stdinPath]);
    expect(out.code).toBe(0);
    expect(out.stdoutBytes.equals(dumpBytes)).toBe(true);
  });

  test('--set takes paths, excludes, type and tags from the config file; the command line adds tags', async () => {
    const cwd = path.join(dir, 'with-config');
    await put(
      path.join(cwd, 'strata.config.json'),
      JSON.stringify({ repository: repo, passwordFile: path.join(dir, 'pw'), sets: { site: { paths: [path.join(data, 'sub')], excludes: ['b.bin'], type: 'full', tags: ['site'], host: 'cfg-host' } } }),
    );
    const noEnv = { ...env, STRATA_REPOSITORY: '', STRATA_PASSWORD_FILE: '' };
    const r = await runCli(['backup', '--set', 'site', '--tag', 'extra', '--json'], { env: noEnv, cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const snap = JSON.parse((await runCli(['snapshots', summary.snapshotId, '--json'], { env: noEnv, cwd })).stdout)[0];
    expect(snap).toMatchObject({ paths: [path.join(data, 'sub')], tags: ['extra', 'site'], type: 'full', host: 'cfg-host', set: 'site' });
    const ls = JSON.parse((await runCli(['ls', summary.snapshotId, '--json'], { env: noEnv, cwd })).stdout) as { path: string }[];
    expect(ls.map((e) => e.path)).not.toContain(path.join(data, 'sub', 'b.bin'));
    expect(ls.map((e) => e.path)).toContain(path.join(data, 'sub', 'c.txt'));
  });
});

describe('hooks of a backup set', () => {
  test('pre and post run around a backup of any type; a failing pre hook stops it', async () => {
    const cwd = path.join(dir, 'with-hooks');
    const marks = path.join(cwd, 'marks');
    await put(
      path.join(cwd, 'strata.config.json'),
      JSON.stringify({
        sets: {
          hooked: { paths: [path.join(data, 'a.txt')], hooks: { pre: `echo pre >> ${marks}`, post: [`echo post >> ${marks}`] } },
          broken: { paths: [path.join(data, 'a.txt')], hooks: { pre: 'exit 7', post: `echo post-after-failure >> ${marks}` } },
        },
      }),
    );
    const ok = await runCli(['backup', '--set', 'hooked', '--quiet'], { env, cwd });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(await readFile(marks, 'utf8')).toBe('pre\npost\n');
    const before = JSON.parse((await cli(['snapshots', '--json'])).stdout).length;
    const bad = await runCli(['backup', '--set', 'broken'], { env, cwd });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('strata: pre hook "exit 7" failed (exit 7); the backup did not run; fix the hook in the config file\n');
    expect(await readFile(marks, 'utf8')).toBe('pre\npost\npost-after-failure\n');
    expect(JSON.parse((await cli(['snapshots', '--json'])).stdout).length).toBe(before);
  });
});

describe('reading the repository', () => {
  test('snapshots: a table, filters by host, tag and path', async () => {
    const table = await cli(['snapshots']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(ids.first);
    expect(table.stdout).toMatch(/\n6 snapshots\n$/);
    const byHost = JSON.parse((await cli(['snapshots', '--host', 'db-1', '--json'])).stdout);
    expect(byHost.map((s: { id: string }) => s.id)).toEqual([ids.full]);
    const byTag = JSON.parse((await cli(['snapshots', '--tag', 'x', '--tag', 'first', '--json'])).stdout);
    expect(byTag).toHaveLength(2);
    const byPath = JSON.parse((await cli(['snapshots', '--path', data, '--json'])).stdout);
    expect(byPath).toHaveLength(3);
  });

  test('latest and unique prefixes name snapshots; an unknown one is an error', async () => {
    const latest = JSON.parse((await cli(['snapshots', 'latest', '--json'])).stdout);
    expect(latest).toHaveLength(1);
    const prefix = JSON.parse((await cli(['snapshots', ids.second.slice(0, 6), '--json'])).stdout);
    expect(prefix[0].id).toBe(ids.second);
    const missing = await cli(['snapshots', 'ffffffffffff']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^strata: .*no snapshot with id ffffffffffff/);
  });

  test('ls lists paths; -l shows modes and link targets; a folder narrows it', async () => {
    const plain = await cli(['ls', ids.second]);
    expect(plain.code).toBe(0);
    expect(plain.stdout.split('\n')).toEqual(expect.arrayContaining([path.join(data, 'a.txt'), path.join(data, 'sub', 'b.bin'), path.join(data, 'empty')]));
    const long = await cli(['ls', ids.second, '-l']);
    expect(long.stdout).toMatch(new RegExp(`^l[rwx-]{9} .* ${path.join(data, 'link')} -> a\\.txt$`, 'm'));
    expect(long.stdout).toMatch(new RegExp(`^d[rwx-]{9} .* ${path.join(data, 'sub')}$`, 'm'));
    const sub = JSON.parse((await cli(['ls', ids.second, path.join(data, 'sub'), '--json'])).stdout) as { path: string; type: string; size: number; sha256?: string }[];
    expect(sub.map((e) => e.path)).toEqual(expect.arrayContaining([path.join(data, 'sub', 'b.bin'), path.join(data, 'sub', 'c.txt')]));
    expect(sub.some((e) => e.path === path.join(data, 'a.txt'))).toBe(false);
    const b = sub.find((e) => e.path.endsWith('b.bin'))!;
    expect(b).toMatchObject({ type: 'file', size: 200_000 });
  });

  test('diff names the changed file', async () => {
    const r = await cli(['diff', ids.first, ids.second.slice(0, 10)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^M +${path.join(data, 'sub', 'c.txt')}$`, 'm'));
    expect(r.stdout).toMatch(/\n0 added, 0 removed, \d+ modified\n$/);
    const json = JSON.parse((await cli(['diff', ids.first, ids.second, '--json'])).stdout);
    expect(json).toMatchObject({ added: 0, removed: 0 });
    expect(json.entries).toContainEqual({ path: path.join(data, 'sub', 'c.txt'), change: 'M' });
    expect(json.entries).not.toContainEqual(expect.objectContaining({ path: path.join(data, 'a.txt') }));
  });

  test('stats for the repository and for one snapshot', async () => {
    const all = await cli(['stats']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^Snapshots: +6$/m);
    const one = JSON.parse((await cli(['stats', ids.first, '--json'])).stdout);
    expect(one).toMatchObject({ snapshots: 1 });
    for (const key of ['files', 'totalSize', 'uniqueBlobs', 'rawSize', 'storedSize', 'packs']) expect(typeof one[key]).toBe('number');
  });

  test('dump of a folder is a tar that unpacks to the same files', async () => {
    const r = await cli(['dump', ids.second, path.join(data, 'sub')]);
    expect(r.code).toBe(0);
    const out = path.join(dir, 'untar');
    await mkdir(out);
    execFileSync('tar', ['-x', '-C', out], { input: r.stdoutBytes });
    const files = execFileSync('find', [out, '-type', 'f']).toString().trim().split('\n');
    const b = files.find((f) => f.endsWith('b.bin'))!;
    expect(await readFile(b)).toEqual(await readFile(path.join(data, 'sub', 'b.bin')));
  });

  test('dump into a reader that stops early ends quietly, as with SIGPIPE', async () => {
    const { spawnCli } = await import('./helpers.js');
    // 8 MiB: far more than a pipe holds, so the reader is gone long before the dump ends.
    const big = await cli(['backup', '--stdin', '--stdin-filename', 'big.bin', '--quiet', '--tag', 'pipe'], { input: randomBytes(8 << 20) });
    expect(big.code).toBe(0);
    const bigId = big.stdout.trim();
    const bigPath = (JSON.parse((await cli(['ls', bigId, '--json'])).stdout) as { path: string }[]).find((e) => e.path.endsWith('big.bin'))!.path;
    for (const [snapshot, target] of [[bigId, bigPath], [bigId, path.dirname(bigPath)]]) {
      const child = spawnCli(['dump', snapshot, target], { env, cwd: dir });
      child.stdin!.end();
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout!.once('data', () => child.stdout!.destroy());
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(stderr).toBe('');
      expect(code).toBe(141);
    }
  });

  test('check finds no errors, also reading data', async () => {
    const r = await cli(['check', '--read-data']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^no errors were found/);
    const lines = (await cli(['check', '--read-data-subset', '50%', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    for (const l of lines.slice(0, -1)) expect(l.messageType).toBe('status');
    const subset = lines[lines.length - 1];
    expect(subset).toMatchObject({ messageType: 'summary', ok: true, errors: [] });
    const bad = await cli(['check', '--read-data-subset', '150%']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--read-data-subset expects a percentage between 0 and 100');
  });
});

describe('restore', () => {
  test('restores a snapshot exactly under the target, absolute paths below it', async () => {
    const target = path.join(dir, 'restore-1');
    const r = await cli(['restore', ids.second.slice(0, 8), '--target', target, '--verify']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^restored \d+ files and \d+ folders/);
    const root = path.join(target, data);
    expect(await readFile(path.join(root, 'a.txt'), 'utf8')).toBe('hello strata\n');
    expect(await readFile(path.join(root, 'sub', 'b.bin'))).toEqual(await readFile(path.join(data, 'sub', 'b.bin')));
    expect(await readFile(path.join(root, 'sub', 'c.txt'), 'utf8')).toBe('changed content');
    expect(await readlink(path.join(root, 'link'))).toBe('a.txt');
  });

  test('--include restores only what matches; --json prints the summary', async () => {
    const target = path.join(dir, 'restore-2');
    const r = await cli(['restore', 'latest', '--target', target, '--include', '**/a.txt', '--json'], {});
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(summary).toMatchObject({ messageType: 'summary', success: true, damaged: [], errors: [] });
  });

  test('the default overwrite is always, as --help says: an edit of the same size and mtime is replaced', async () => {
    const target = path.join(dir, 'restore-overwrite');
    expect((await cli(['restore', ids.second, '--target', target])).code).toBe(0);
    const file = path.join(target, data, 'a.txt');
    // touch -r keeps the mtime to the nanosecond (utimes would round it).
    const ref = path.join(dir, 'mtime-ref');
    execFileSync('touch', ['-r', file, ref]);
    await writeFile(file, 'HELLO STRATA\n');
    execFileSync('touch', ['-r', ref, file]);
    // if-changed trusts size and mtime, so it keeps the edit; never keeps every existing file.
    const never = await cli(['restore', ids.second, '--target', target, '--overwrite', 'never']);
    expect(never.stdout).toMatch(/; \d+ existing files skipped/);
    expect((await cli(['restore', ids.second, '--target', target, '--overwrite', 'if-changed'])).code).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('HELLO STRATA\n');
    expect((await cli(['restore', ids.second, '--target', target])).code).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('hello strata\n');
    expect((await cli(['restore', '--help'])).stdout).toMatch(/always \(default/);
  });

  test('a --target that is a file is refused in one sentence', async () => {
    const file = path.join(dir, 'not-a-folder');
    await writeFile(file, 'x');
    const r = await cli(['restore', ids.second, '--target', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`strata: restore target ${file} exists and is not a folder; choose a folder for --target\n`);
  });

  test('restore without --target says what is missing', async () => {
    const r = await cli(['restore', 'latest']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('strata: restore needs --target DIR; the folder to restore into\n');
  });
});

describe('verbosity', () => {
  test('--verbose says what was opened; --quiet keeps stderr empty', async () => {
    const v = await cli(['snapshots', '--verbose']);
    expect(v.code).toBe(0);
    expect(v.stderr).toMatch(new RegExp(`^opened repository local:${repo} \\(id [0-9a-f]{10}, aes-256-gcm, compression auto\\) in \\d+ ms\n$`));
    const q = await cli(['init', '--repo', path.join(dir, 'quiet-plain'), '--encryption', 'none', '--quiet']);
    expect(q.code).toBe(0);
    expect(q.stderr).toBe('');
  });
});

describe('cache', () => {
  test('--cache-dir puts the cache there, STRATA_CACHE_DIR too; --no-cache writes none', async () => {
    const { readdir } = await import('node:fs/promises');
    const id = (JSON.parse((await cli(['init', '--repo', path.join(dir, 'cached'), '--json'])).stdout) as { id: string }).id;
    const cacheDir = path.join(dir, 'my-cache');
    expect((await cli(['backup', '--repo', path.join(dir, 'cached'), path.join(data, 'a.txt'), '--cache-dir', cacheDir, '-q'])).code).toBe(0);
    expect(await readdir(cacheDir)).toContain(id);
    const envCache = path.join(dir, 'env-cache');
    expect((await cli(['snapshots', '--repo', path.join(dir, 'cached')], { env: { STRATA_CACHE_DIR: envCache } })).code).toBe(0);
    expect(await readdir(envCache)).toContain(id);
    const home = path.join(dir, 'no-cache-home');
    expect((await cli(['snapshots', '--repo', path.join(dir, 'cached'), '--no-cache'], { env: { HOME: home, XDG_CACHE_HOME: path.join(home, '.cache') } })).code).toBe(0);
    expect(await readdir(home).catch(() => [])).toEqual([]);
  });
});

describe('lazy loading', () => {
  /** Runs the built CLI with a module-resolution hook that records every module it loads. */
  async function loadedModules(args: string[]): Promise<string[]> {
    const trace = path.join(dir, `trace-${args[0]}.txt`);
    const hooks = path.join(dir, 'trace-hooks.mjs');
    const register = path.join(dir, 'trace-register.mjs');
    await writeFile(hooks, `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(process.env.TRACE_FILE, r.url + '\\n'); return r; }\n`);
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const r = await runCli(args, { env: { ...env, TRACE_FILE: trace, NODE_OPTIONS: `--import ${pathToFileURL(register).href}` }, cwd: dir });
    expect(r.code).toBe(0);
    return (await readFile(trace, 'utf8')).trim().split('\n');
  }

  test('a local repository never loads a cloud store or SDK; version loads neither engine nor plugins', async () => {
    const snapshots = await loadedModules(['snapshots']);
    expect(snapshots.some((u) => u.includes('/engine/'))).toBe(true);
    expect(snapshots.some((u) => u.includes('/store-local/'))).toBe(true);
    expect(snapshots.filter((u) => /store-(s3|gcs|azure)|@aws-sdk|@google-cloud|@azure|\/zod\/|\/pino\//.test(u))).toEqual([]);
    const version = await loadedModules(['version']);
    expect(version.filter((u) => /\/engine\/|\/(store|codec|cipher|detector)-|\/zod\/|\/pino\//.test(u))).toEqual([]);
  });
});

describe('logging', () => {
  test('--log-file writes JSON lines for the operation, and never the password', async () => {
    const log = path.join(dir, 'logs', 'strata.log');
    const r = await cli(['snapshots', '--log-file', log, '--json']);
    expect(r.code).toBe(0);
    const lines = (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.find((l) => l.msg === 'command started')).toMatchObject({ command: 'snapshots', level: 30 });
    expect(lines.find((l) => l.msg === 'repository opened')).toMatchObject({ repository: `local:${repo}` });
    expect(lines.find((l) => l.msg === 'command finished')).toMatchObject({ command: 'snapshots', exitCode: 0 });
    for (const l of lines) expect(typeof l.time).toBe('string');
    expect(await readFile(log, 'utf8')).not.toContain('correct horse');
  });
});

describe('ls -l of special mode bits', () => {
  test('setuid, setgid and sticky show as ls(1) shows them', async () => {
    const special = path.join(dir, 'special');
    await put(path.join(special, 'suid'), '#!/bin/sh\n');
    await put(path.join(special, 'sgid-noexec'), 'x');
    await mkdir(path.join(special, 'sticky'));
    await chmod(path.join(special, 'suid'), 0o4755);
    await chmod(path.join(special, 'sgid-noexec'), 0o2644);
    await chmod(path.join(special, 'sticky'), 0o1777);
    const id = (await cli(['backup', special, '--quiet'])).stdout.trim();
    const long = (await cli(['ls', id, special, '-l'])).stdout;
    expect(long).toMatch(new RegExp(`^-rwsr-xr-x .* ${path.join(special, 'suid')}$`, 'm'));
    expect(long).toMatch(new RegExp(`^-rw-r-Sr-- .* ${path.join(special, 'sgid-noexec')}$`, 'm'));
    expect(long).toMatch(new RegExp(`^drwxrwxrwt .* ${path.join(special, 'sticky')}$`, 'm'));
  });
});
