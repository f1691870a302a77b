/**
 * File system operations Node has no API for (exact nanosecond times, FIFOs, device nodes), done
 * with coreutils. Paths may be bytes that are not UTF-8, which cannot be passed as arguments: such
 * an entry is handed to the child as an inherited file descriptor (/proc/self/fd/3) instead.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { textOf } from './format/tree.js';

function run(cmd: string, args: string[], fd?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: fd === undefined ? ['ignore', 'ignore', 'pipe'] : ['ignore', 'ignore', 'pipe', fd] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed: ${err.trim() || `exit ${code}`}`))));
  });
}

function split(p: Buffer): { dir: Buffer; name: Buffer } {
  const i = p.lastIndexOf(0x2f);
  return { dir: i <= 0 ? Buffer.from(i === 0 ? '/' : '.') : p.subarray(0, i), name: p.subarray(i + 1) };
}

function stampOf(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  const frac = (ns < 0n ? -(ns % 1_000_000_000n) : ns % 1_000_000_000n).toString().padStart(9, '0');
  return `@${s}.${frac}`;
}

/** Sets atime and mtime to exactly `ns` nanoseconds (lutimes has double precision only). */
export async function setTimeNs(p: Buffer, ns: bigint, isSymlink: boolean): Promise<void> {
  const stamp = stampOf(ns);
  const text = textOf(p);
  if (text !== undefined) {
    await run('touch', [...(isSymlink ? ['-h'] : []), '-c', '-d', stamp, '--', text]);
    return;
  }
  await setTimeNsByFd(p, stamp, isSymlink);
}

/**
 * setTimeNs for many entries with two processes instead of one per entry: xargs (GNU findutils)
 * reads NUL-separated "stamp, --, path" triples on stdin and runs touch for each, so paths are
 * passed as raw bytes (names that are not UTF-8 need no descriptor trick) and Node forks once per
 * kind instead of once per file. Resolves with the paths whose time could not be set.
 */
export async function setTimesNs(entries: { path: Buffer; ns: bigint; symlink: boolean }[]): Promise<Buffer[]> {
  const failed: Buffer[] = [];
  for (const symlink of [false, true]) {
    const list = entries.filter((e) => e.symlink === symlink);
    if (list.length === 0) continue;
    const parts: Buffer[] = [];
    for (const e of list) parts.push(Buffer.from(`${stampOf(e.ns)}\0--\0`), e.path, Buffer.from([0]));
    try {
      await runWithInput('xargs', ['-0', '-n', '3', 'touch', ...(symlink ? ['-h'] : []), '-c', '-d'], Buffer.concat(parts));
    } catch {
      // Some touch failed (or xargs is missing): check each entry and retry it on its own.
      for (const e of list) {
        try {
          if (fs.lstatSync(e.path, { bigint: true }).mtimeNs === e.ns) continue;
          await setTimeNs(e.path, e.ns, e.symlink);
        } catch {
          failed.push(e.path);
        }
      }
    }
  }
  return failed;
}

function runWithInput(cmd: string, args: string[], input: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed: ${err.trim() || `exit ${code}`}`))));
    child.stdin!.on('error', () => undefined); // a failed start is reported by 'error'
    child.stdin!.end(input);
  });
}

async function setTimeNsByFd(p: Buffer, stamp: string, isSymlink: boolean): Promise<void> {
  if (isSymlink) return; // symlink times are not restored for names that are not UTF-8
  const st = fs.lstatSync(p);
  const flags = fs.constants.O_RDONLY | (st.isFIFO() ? fs.constants.O_NONBLOCK : 0) | (st.isDirectory() ? fs.constants.O_DIRECTORY : 0);
  const fd = fs.openSync(p, flags);
  try {
    await run('touch', ['-c', '-d', stamp, '/proc/self/fd/3'], fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates a FIFO or a device node (mkfifo/mknod) at a path that may not be UTF-8. */
export async function makeNode(p: Buffer, kind: 'fifo' | 'chardev' | 'blockdev', mode: number, major = 0, minor = 0): Promise<void> {
  const args = (target: string) => (kind === 'fifo' ? ['-m', (mode & 0o7777).toString(8), target] : ['-m', (mode & 0o7777).toString(8), target, kind === 'chardev' ? 'c' : 'b', String(major), String(minor)]);
  const cmd = kind === 'fifo' ? 'mkfifo' : 'mknod';
  const text = textOf(p);
  if (text !== undefined) {
    await run(cmd, args(text));
    return;
  }
  // Create under a temporary ASCII name in the same directory, then rename.
  const { dir, name: _name } = split(p);
  const tmp = `.strata-${randomBytes(6).toString('hex')}`;
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await run(cmd, args(path.posix.join('/proc/self/fd/3', tmp)), fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(Buffer.concat([dir, Buffer.from(`/${tmp}`)]), p);
}
