// End to end: every exit code of the CLI and its error sentence, with real repositories, real
// unreadable files, real damage and real locks held by live processes.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Repository } from '@strata/engine';
import { localStore } from '@strata/store-local';
import { zstdCodec } from '@strata/codec-zstd';
import { aes256gcm } from '@strata/cipher-aes-256-gcm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { baseEnv, finish, put, removeDir, runCli, spawnCli, tempDir } from './helpers.js';

let dir: string;
let env: Record<string, string>;
const PASSWORD = 'exit-code password';

const cli = (args: string[], extraEnv: Record<string, string> = {}, input?: string | Buffer) => runCli(args, { env: { ...env, ...extraEnv }, cwd: dir, input });

/** A fresh repository with one backup of a small folder; returns its path. */
async function makeRepository(name: string, files: Record<string, string | Buffer> = { 'a.txt': 'alpha\n' }): Promise<{ repo: string; data: string }> {
  const repo = path.join(dir, name);
  const data = path.join(dir, `${name}-data`);
  for (const [f, content] of Object.entries(files)) await put(path.join(data, f), content);
  const init = await cli(['init', '--repo', repo]);
  expect(init.stderr).not.toContain('strata:');
  expect(init.code).toBe(0);
  const backup = await cli(['backup', '--repo', repo, data, '--quiet']);
  expect(backup.stderr).toBe('');
  expect(backup.code).toBe(0);
  return { repo, data };
}

/** The lock objects of a local repository (not the store's temporary files, which start with a dot). */
async function lockNames(repo: string): Promise<string[]> {
  return (await readdir(path.join(repo, 'locks')).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
}

/** Waits until the repository has a lock object (a live command holds it). */
async function waitForLock(repo: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await lockNames(repo)).length > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no lock appeared in ${repo}`);
}

beforeAll(async () => {
  dir = await tempDir();
  await writeFile(path.join(dir, 'pw'), `${PASSWORD}\n`);
  env = { ...baseEnv(dir), STRATA_PASSWORD_FILE: path.join(dir, 'pw') };
});
afterAll(() => removeDir(dir));

describe('exit 10: the repository does not exist', () => {
  test('names the repository and how to create it', async () => {
    const missing = path.join(dir, 'nothing-here');
    const r = await cli(['snapshots', '--repo', missing]);
    expect(r.code).toBe(10);
    expect(r.stderr).toBe(`strata: repository local:${missing} does not exist; create it with "strata init --repo ${missing}"\n`);
  });

  test('also from STRATA_REPOSITORY, for a local: URL', async () => {
    const missing = path.join(dir, 'nothing-there');
    const r = await cli(['check'], { STRATA_REPOSITORY: `local:${missing}` });
    expect(r.code).toBe(10);
    expect(r.stderr).toBe(`strata: repository local:${missing} does not exist; create it with "strata init --repo local:${missing}"\n`);
  });
});

describe('exit 12: wrong password', () => {
  test('says no key opens the repository and where passwords come from', async () => {
    const { repo } = await makeRepository('pw-repo');
    const r = await cli(['snapshots', '--repo', repo], { STRATA_PASSWORD_FILE: '', STRATA_PASSWORD: 'not it' });
    expect(r.code).toBe(12);
    expect(r.stderr).toBe(`strata: wrong password for repository local:${repo}: no key opens it; check --password-file, STRATA_PASSWORD_FILE or STRATA_PASSWORD\n`);
  });

  test('STRATA_PASSWORD opens it; no password and no terminal is exit 1 with what to do', async () => {
    const repo = path.join(dir, 'pw-repo');
    const ok = await cli(['snapshots', '--repo', repo, '--json'], { STRATA_PASSWORD_FILE: '', STRATA_PASSWORD: PASSWORD });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toHaveLength(1);
    const none = await cli(['snapshots', '--repo', repo], { STRATA_PASSWORD_FILE: '' });
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('strata: no password given and there is no terminal to ask on; use --password-file F, STRATA_PASSWORD_FILE or STRATA_PASSWORD\n');
  });

  test('--password-file wins over the environment', async () => {
    const repo = path.join(dir, 'pw-repo');
    const wrong = path.join(dir, 'wrong-pw');
    await writeFile(wrong, 'nope\n');
    const r = await cli(['snapshots', '--repo', repo, '--password-file', wrong], { STRATA_PASSWORD: PASSWORD });
    expect(r.code).toBe(12);
  });
});

describe('exit 3: backup done, some files unreadable', () => {
  test('the snapshot is saved, the unreadable file is listed on stderr', async () => {
    const { repo, data } = await makeRepository('unreadable', { 'ok.txt': 'fine\n', 'secret/key.pem': 'private\n', 'zz.txt': 'last\n' });
    const secret = path.join(data, 'secret', 'key.pem');
    await chmod(secret, 0o000);
    try {
      // As root, file modes are ignored unless the capabilities that bypass them are dropped.
      const r = await runCli(['backup', '--repo', repo, data], { env, cwd: dir, withoutRootPowers: true });
      expect(r.code).toBe(3);
      expect(r.stdout).toMatch(/^snapshot [0-9a-f]{8} saved$/m);
      expect(r.stderr).toMatch(new RegExp(`^strata: snapshot [0-9a-f]{8} saved, but 1 file could not be read and is missing from it:\\n  ${secret}: .*(EACCES|permission denied)`, 'mi'));

      const json = await runCli(['backup', '--repo', repo, data, '--json'], { env, cwd: dir, withoutRootPowers: true });
      expect(json.code).toBe(3);
      const summary = JSON.parse(json.stdout.trim().split('\n').pop()!);
      expect(summary).toMatchObject({ messageType: 'summary', filesUnreadable: 1, errors: [{ path: secret }] });
      const ls = JSON.parse((await cli(['ls', '--repo', repo, summary.snapshotId, '--json'])).stdout) as { path: string }[];
      expect(ls.map((e) => e.path)).toEqual(expect.arrayContaining([path.join(data, 'ok.txt'), path.join(data, 'zz.txt')]));
      expect(ls.map((e) => e.path)).not.toContain(secret);
    } finally {
      await chmod(secret, 0o600);
    }
  });
});

describe('exit 11: the repository is locked', () => {
  test('a backup or check against an exclusive lock fails at once with exit 11, naming the holder', async () => {
    const { repo } = await makeRepository('locked-exclusive');
    // Hold the exclusive lock from this process, as prune does while it runs.
    const held = await Repository.open({ store: localStore(repo), password: PASSWORD, codecs: [zstdCodec()], ciphers: [aes256gcm()], cacheDir: false });
    const lock = await held.internals.lock(true);
    try {
      const r = await cli(['backup', '--repo', repo, path.join(dir, 'locked-exclusive-data')]);
      expect(r.code).toBe(11);
      expect(r.stderr).toBe(
        `strata: repository local:${repo} is locked by an exclusive lock of pid ${process.pid} on ${os.hostname()} (user ${os.userInfo().username}) since ${r.stderr.match(/since (\S+);/)?.[1]}; wait until that command ends, or run "strata unlock" if that process is gone\n`,
      );
      const check = await cli(['check', '--repo', repo]);
      expect(check.code).toBe(11);
    } finally {
      await lock.release();
      await held.close();
    }
    const after = await cli(['check', '--repo', repo]);
    expect(after.code).toBe(0);
  });

  test('a live backup holds the repository: prune and forget fail at once (exit 11), the backup completes', async () => {
    const { repo } = await makeRepository('held-by-backup');
    // A backup of a stream that is fed slowly keeps its shared lock for as long as the stream is open.
    const child = spawnCli(['backup', '--repo', repo, '--stdin', '--stdin-filename', 'slow.bin', '--json'], { env, cwd: dir });
    const done = finish(child);
    child.stdin!.write(Buffer.alloc(64 * 1024, 7));
    await waitForLock(repo);
    const other = await Repository.open({ store: localStore(repo), password: PASSWORD, codecs: [zstdCodec()], ciphers: [aes256gcm()], cacheDir: false });
    try {
      await expect(other.prune()).rejects.toMatchObject({ code: 'LOCKED' });
      await expect(other.forget({ keepLast: 1 })).rejects.toMatchObject({ code: 'LOCKED' });
    } finally {
      await other.close();
    }
    // The same through the command line: exit 11 at once, naming the backup's shared lock.
    const prune = await cli(['prune', '--repo', repo]);
    expect(prune.code).toBe(11);
    expect(prune.stderr).toMatch(new RegExp(`^strata: repository local:${repo} is locked by a shared lock of pid ${child.pid} on `));
    // Shared commands go on beside it.
    const snaps = await cli(['snapshots', '--repo', repo, '--json']);
    expect(snaps.code).toBe(0);
    child.stdin!.end(Buffer.alloc(64 * 1024, 8));
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ messageType: 'summary', totalBytesProcessed: 128 * 1024 });
  });

  test('Ctrl-C stops a backup: exit 130, no snapshot from the cut stream, no lock left', async () => {
    const { repo } = await makeRepository('interrupted');
    const before = JSON.parse((await cli(['snapshots', '--repo', repo, '--json'])).stdout).length;
    const child = spawnCli(['backup', '--repo', repo, '--stdin', '--stdin-filename', 'dump.sql'], { env, cwd: dir });
    const done = finish(child);
    child.stdin!.write(Buffer.alloc(64 * 1024, 1)); // and the stream stays open: the producer is slow
    await waitForLock(repo);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('strata: interrupted; nothing was saved\n');
    expect(await lockNames(repo)).toEqual([]);
    expect(JSON.parse((await cli(['snapshots', '--repo', repo, '--json'])).stdout)).toHaveLength(before);
  });

  test('unlock removes the lock a killed backup left behind', async () => {
    const { repo } = await makeRepository('stale-lock');
    const child = spawnCli(['backup', '--repo', repo, '--stdin', '--stdin-filename', 'slow.bin'], { env, cwd: dir });
    const done = finish(child);
    child.stdin!.write(Buffer.alloc(1000, 1));
    await waitForLock(repo);
    child.kill('SIGKILL');
    await done;
    expect(await lockNames(repo)).toHaveLength(1);
    const r = await cli(['unlock', '--repo', repo]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('removed 1 lock\n');
    expect(await lockNames(repo)).toEqual([]);
    const again = await cli(['unlock', '--repo', repo, '--remove-all', '--json']);
    expect(JSON.parse(again.stdout)).toEqual({ removed: 0 });
  });
});

describe('exit 1: damage', () => {
  test('check names the damage, restore names the damaged file; both exit 1', async () => {
    // Incompressible bytes, so the file's data pack is larger than the tree pack (a short
    // periodic pattern compresses to almost nothing under zstd).
    const big = createHash('sha256').update('seed').digest();
    const bigData = Buffer.alloc(300_000);
    for (let i = 0; i < bigData.length; i += 32) createHash('sha256').update(big).update(String(i)).digest().copy(bigData, i);
    const { repo, data } = await makeRepository('damaged', { 'big.bin': bigData });
    // The largest pack holds the file's data (trees go in their own, smaller packs).
    const packs: { file: string; size: number }[] = [];
    for (const sub of await readdir(path.join(repo, 'data'))) {
      for (const f of await readdir(path.join(repo, 'data', sub))) {
        const file = path.join(repo, 'data', sub, f);
        packs.push({ file, size: (await stat(file)).size });
      }
    }
    const pack = packs.sort((a, b) => b.size - a.size)[0].file;
    const bytes = await readFile(pack);
    bytes[Math.floor(bytes.length / 3)] ^= 0xff;
    await chmod(pack, 0o644);
    await writeFile(pack, bytes);

    const check = await cli(['check', '--repo', repo, '--read-data']);
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(/^strata: check found \d+ problems? in the repository:\n/);
    expect(check.stderr).toContain(path.basename(pack));
    // Each problem names the snapshot and the file it hits, once.
    for (const line of check.stderr.split('\n').filter((l) => l.startsWith('  '))) {
      expect(line.split(path.join(data, 'big.bin')).length - 1).toBe(1);
    }

    const target = path.join(dir, 'damaged-restore');
    const restore = await cli(['restore', 'latest', '--repo', repo, '--target', target]);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toMatch(/^strata: restore incomplete: 1 damaged and 0 failed file/);
    expect(restore.stderr).toContain(path.join(data, 'big.bin'));
    expect(existsSync(path.join(target, data, 'big.bin'))).toBe(false);

    // --keep-damaged keeps what could be written under a name that cannot pass for the file.
    const kept = path.join(dir, 'damaged-kept');
    const keep = await cli(['restore', 'latest', '--repo', repo, '--target', kept, '--keep-damaged']);
    expect(keep.code).toBe(1);
    expect(existsSync(path.join(kept, data, 'big.bin'))).toBe(false);
    expect(existsSync(path.join(kept, data, 'big.bin.strata-damaged'))).toBe(true);
  });
});

describe('keys', () => {
  test('add, list, open with the new key, remove, passwd', async () => {
    const { repo } = await makeRepository('keys');
    const second = path.join(dir, 'second-pw');
    await writeFile(second, 'second password\n');
    const add = await cli(['key', 'add', '--repo', repo, '--new-password-file', second]);
    expect(add.code).toBe(0);
    const newId = /^added key ([0-9a-f]{8})$/.exec(add.stdout.trim())![1];

    const list = JSON.parse((await cli(['key', 'list', '--repo', repo, '--json'])).stdout) as { id: string; current: boolean }[];
    expect(list).toHaveLength(2);
    expect(list.filter((k) => k.current)).toHaveLength(1);
    expect(list.find((k) => k.id.startsWith(newId))?.current).toBe(false);
    const table = await cli(['key', 'list', '--repo', repo]);
    expect(table.stdout).toMatch(/^\*[0-9a-f]{8} /m);

    const withNew = await cli(['snapshots', '--repo', repo, '--password-file', second, '--json']);
    expect(withNew.code).toBe(0);

    const inUse = list.find((k) => k.current)!.id;
    const refuse = await cli(['key', 'remove', '--repo', repo, inUse.slice(0, 8)]);
    expect(refuse.code).toBe(1);
    expect(refuse.stderr).toContain('refusing to remove the key in use');

    const remove = await cli(['key', 'remove', '--repo', repo, newId]);
    expect(remove.stdout).toBe(`removed key ${newId}\n`);
    expect((await cli(['snapshots', '--repo', repo, '--password-file', second])).code).toBe(12);

    const third = path.join(dir, 'third-pw');
    await writeFile(third, 'third password\n');
    const passwd = await cli(['key', 'passwd', '--repo', repo, '--new-password-file', third]);
    expect(passwd.stdout).toBe('password changed\n');
    expect((await cli(['snapshots', '--repo', repo])).code).toBe(12);
    expect((await cli(['snapshots', '--repo', repo, '--password-file', third])).code).toBe(0);
  });

  test('key add without a new password and without a terminal says how to give one', async () => {
    const r = await cli(['key', 'add', '--repo', path.join(dir, 'pw-repo')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('strata: no new password given and there is no terminal to ask on; use --new-password-file F or STRATA_NEW_PASSWORD\n');
  });
});

describe('copy', () => {
  test('copies snapshots into another repository, then skips them', async () => {
    const { repo: source, data } = await makeRepository('copy-source', { 'f.txt': 'copied\n', 'g.bin': Buffer.alloc(50_000, 3) });
    const target = path.join(dir, 'copy-target');
    const targetPw = path.join(dir, 'target-pw');
    await writeFile(targetPw, 'target password\n');
    expect((await cli(['init', '--repo', target, '--password-file', targetPw])).code).toBe(0);

    const r = await cli(['copy', '--repo', target, '--password-file', targetPw, '--from-repo', source, '--from-password-file', path.join(dir, 'pw')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^copied 1 snapshot from local:${source} to local:${target} \\(\\d+ blobs\\), 0 already there\\n$`));

    const again = await cli(['copy', '--repo', target, '--password-file', targetPw, '--from-repo', source, '--json'], { STRATA_FROM_PASSWORD: PASSWORD });
    const summary = JSON.parse(again.stdout.trim().split('\n').pop()!);
    expect(summary).toMatchObject({ messageType: 'summary', copied: [] });
    expect(summary.skipped).toHaveLength(1);

    const restored = path.join(dir, 'copy-restore');
    const restore = await cli(['restore', 'latest', '--repo', target, '--password-file', targetPw, '--target', restored]);
    expect(restore.code).toBe(0);
    expect(await readFile(path.join(restored, data, 'f.txt'), 'utf8')).toBe('copied\n');
  });

  test('a wrong source password is exit 12 and names the source', async () => {
    const source = path.join(dir, 'copy-source');
    const r = await cli(['copy', '--repo', path.join(dir, 'copy-target'), '--password-file', path.join(dir, 'target-pw'), '--from-repo', source], { STRATA_FROM_PASSWORD: 'wrong' });
    expect(r.code).toBe(12);
    expect(r.stderr).toBe(`strata: source repository: wrong password for repository local:${source}: no key opens it; check --from-password-file, STRATA_FROM_PASSWORD_FILE or STRATA_FROM_PASSWORD\n`);
  });

  test('without --from-repo, replicates --repo into the copyTo targets of the config file', async () => {
    const cwd = path.join(dir, 'replicate');
    const mirror = path.join(cwd, 'mirror');
    await put(path.join(cwd, 'strata.config.json'), JSON.stringify({ repository: path.join(dir, 'copy-source'), passwordFile: path.join(dir, 'pw'), copyTo: [{ repository: 'mirror', passwordFile: '../target-pw' }] }));
    // The mirror lives beside the config file; a relative repository there is relative to the file.
    expect((await runCli(['init', '--repo', mirror, '--password-file', path.join(dir, 'target-pw')], { env, cwd })).code).toBe(0);
    const r = await runCli(['copy'], { env: { ...env, STRATA_PASSWORD_FILE: '' }, cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`copied 1 snapshot from local:${path.join(dir, 'copy-source')} to local:${mirror}`);
  });
});

describe('an unencrypted repository', () => {
  test('init warns; commands need no password', async () => {
    const repo = path.join(dir, 'plain');
    const init = await cli(['init', '--repo', repo, '--encryption', 'none'], { STRATA_PASSWORD_FILE: '' });
    expect(init.code).toBe(0);
    expect(init.stderr).toBe('strata: warning: the repository is not encrypted: anyone who can read the store can read the backups\n');
    await put(path.join(dir, 'plain-data', 'p.txt'), 'plain\n');
    const backup = await cli(['backup', '--repo', repo, path.join(dir, 'plain-data'), '--quiet'], { STRATA_PASSWORD_FILE: '' });
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const snaps = JSON.parse((await cli(['snapshots', '--repo', repo, '--json'], { STRATA_PASSWORD_FILE: '' })).stdout);
    expect(snaps).toHaveLength(1);
  });
});
