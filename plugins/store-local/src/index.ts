import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { link, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  AlreadyExistsError,
  InvalidArgumentError,
  NotFoundError,
  PermissionError,
  StoreError,
  isStrataError,
  type ByteRange,
  type GetOptions,
  type ObjectInfo,
  type PluginDescriptor,
  type PutOptions,
  type Store,
  type StoreCapabilities,
  type StoreDescriptor,
} from '@strata/core';

const COMPONENT = 'local';
/** Temporary files start with this; list() never shows them and keys may not use it. */
const TMP_PREFIX = '.tmp-';
/** Keys use `a-z 0-9 - _ .` in segments separated by single slashes. */
const KEY_RE = /^[a-z0-9_.-]+(\/[a-z0-9_.-]+)*$/;

export interface LocalStoreOptions {
  /**
   * Flush each written file and its directory to the disk before put() returns, so a crash or
   * power loss never loses an object the repository already refers to. Default true; turn it off
   * only for throwaway repositories (tests, benchmarks).
   */
  fsync?: boolean;
  /** Mode of new object files (before the umask). Default 0o600: repository files are private. */
  fileMode?: number;
  /** Mode of new directories (before the umask). Default 0o700. */
  dirMode?: number;
}

/**
 * A Store on a local or mounted file system. Each key is a file under the root folder
 * (`data/ab/<id>` is `<root>/data/ab/<id>`).
 *
 * Writes are atomic: the bytes go to a uniquely named temporary file in the target folder, which
 * is flushed and then renamed into place, and the folder is flushed too. A put with `ifAbsent`
 * hard-links the temporary file to its final name instead: link() fails when the name exists,
 * so of several processes or hosts writing the same key, exactly one wins and the others get
 * AlreadyExistsError. Folders are made on demand below the root; put() never creates the root
 * itself (a missing root is usually an unmounted disk), create() does.
 */
export class LocalStore implements Store {
  readonly name = COMPONENT;
  readonly location: string;
  readonly capabilities: StoreCapabilities = { rangeRead: true, conditionalCreate: true, atomicPut: true };
  /** The absolute root folder. */
  readonly root: string;
  private readonly fsync: boolean;
  private readonly fileMode: number;
  private readonly dirMode: number;

  constructor(path: string, options: LocalStoreOptions = {}) {
    if (typeof path !== 'string' || path.length === 0) {
      throw new InvalidArgumentError(COMPONENT, 'the repository path is empty; pass the folder that holds (or will hold) the repository');
    }
    this.root = resolve(path);
    this.location = `local:${this.root}`;
    this.fsync = options.fsync ?? true;
    this.fileMode = options.fileMode ?? 0o600;
    this.dirMode = options.dirMode ?? 0o700;
  }

  /** Makes the root folder (and its parents) when missing. */
  async create(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true, mode: this.dirMode });
    } catch (err) {
      throw this.error(err, 'create the repository folder', this.root);
    }
  }

  /**
   * Writes the object atomically (see the class note). Writing the same bytes to a key again
   * replaces the file with an identical one. With `ifAbsent`, an existing key gives
   * AlreadyExistsError and the existing file is left as it was.
   */
  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const path = this.pathOf(key);
    const dir = dirname(path);
    const tmp = join(dir, `${TMP_PREFIX}${randomBytes(12).toString('hex')}`);
    let handle: FileHandle;
    try {
      handle = await this.openNew(tmp);
    } catch (err) {
      throw this.error(err, 'write', tmp);
    }
    let placed = false;
    try {
      try {
        await handle.writeFile(data);
        if (this.fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      if (options.ifAbsent) {
        try {
          await link(tmp, path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
            throw new AlreadyExistsError(COMPONENT, `object "${key}" already exists in ${this.root}; it is never overwritten`, { cause: err });
          }
          throw err;
        }
      } else {
        await rename(tmp, path);
        placed = true;
      }
      if (this.fsync) await syncDir(dir);
    } catch (err) {
      throw this.error(err, 'write', path);
    } finally {
      // After link() both names point at the file; after a failure the temporary file is junk.
      if (!placed) await unlink(tmp).catch(() => undefined);
    }
  }

  /**
   * Reads the whole object, or only the bytes of `range` (a positioned read, not the whole file),
   * into `options.into` when it is large enough (a view of it is returned), else into a new buffer.
   */
  async get(key: string, range?: ByteRange, options?: GetOptions): Promise<Uint8Array> {
    const path = this.pathOf(key);
    if (range) checkRange(range);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw this.error(err, 'read', path, key);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw this.missing(key);
      const start = Math.min(range?.offset ?? 0, st.size);
      const end = range?.length === undefined ? st.size : Math.min(st.size, start + range.length);
      const into = options?.into;
      const out = into && into.byteLength >= end - start ? into.subarray(0, end - start) : Buffer.allocUnsafeSlow(end - start);
      let filled = 0;
      while (filled < out.length) {
        const { bytesRead } = await handle.read(out, filled, out.length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled !== out.length) {
        throw new StoreError(COMPONENT, `${path} became shorter while being read; objects must not be changed in place, run \`strata check\``);
      }
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    } catch (err) {
      throw this.error(err, 'read', path, key);
    } finally {
      await handle.close();
    }
  }

  /** Size of the object; NotFoundError when it is missing (or is a folder). */
  async stat(key: string): Promise<ObjectInfo> {
    const path = this.pathOf(key);
    try {
      const st = await stat(path);
      if (!st.isFile()) throw this.missing(key);
      return { key, size: st.size };
    } catch (err) {
      throw this.error(err, 'stat', path, key);
    }
  }

  /**
   * Every object whose key starts with `prefix` (a string prefix: `data/a` matches `data/ab/...`).
   * Walks only the folders that can hold such keys; never yields temporary files.
   */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const cut = prefix.lastIndexOf('/');
    const base = cut < 0 ? '' : prefix.slice(0, cut + 1);
    if (base !== '' && !KEY_RE.test(base.slice(0, -1))) return;
    yield* this.walk(base, prefix);
  }

  private async *walk(relDir: string, prefix: string): AsyncGenerator<ObjectInfo> {
    const dir = relDir === '' ? this.root : join(this.root, ...relDir.slice(0, -1).split('/'));
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A folder removed meanwhile, or a name that is a file: nothing to list there.
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw this.error(err, 'list', dir);
    }
    for (const entry of entries) {
      if (entry.name.startsWith(TMP_PREFIX)) continue;
      const rel = relDir + entry.name;
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        // A folder moved to another disk and linked back (data/ on a bigger volume) is followed.
        const st = await stat(join(dir, entry.name)).catch(() => undefined);
        isDir = st?.isDirectory() ?? false;
        isFile = st?.isFile() ?? false;
      }
      if (isDir) {
        const sub = `${rel}/`;
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) yield* this.walk(sub, prefix);
      } else if (isFile && rel.startsWith(prefix)) {
        try {
          yield { key: rel, size: (await stat(join(dir, entry.name))).size };
        } catch (err) {
          // Deleted between readdir and stat: it is simply no longer there.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.error(err, 'list', join(dir, entry.name));
        }
      }
    }
  }

  /** Removes the object. A missing key is fine; empty folders are left in place. */
  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return;
      throw this.error(err, 'delete', path);
    }
  }

  /** Opens a new file for writing, making the folders below the root on demand. */
  private async openNew(tmp: string): Promise<FileHandle> {
    try {
      return await open(tmp, 'wx', this.fileMode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await this.requireRoot();
    const dir = dirname(tmp);
    const first = await mkdir(dir, { recursive: true, mode: this.dirMode });
    // New folders are entries in their parents: flush those too, up to the root.
    if (first && this.fsync) {
      for (let d = dir; d.length >= first.length; d = dirname(d)) await syncDir(dirname(d));
    }
    return open(tmp, 'wx', this.fileMode);
  }

  private async requireRoot(): Promise<void> {
    try {
      if ((await stat(this.root)).isDirectory()) return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    throw new StoreError(COMPONENT, `repository folder ${this.root} does not exist; run \`strata init\`, or mount the disk that holds it`);
  }

  /** Maps a key to its file, refusing keys that could leave the root or hide as temporary files. */
  private pathOf(key: string): string {
    if (typeof key !== 'string' || !KEY_RE.test(key) || key.split('/').some((s) => s === '.' || s === '..' || s.startsWith(TMP_PREFIX))) {
      throw new InvalidArgumentError(COMPONENT, `key ${JSON.stringify(key)} is not valid; keys use a-z 0-9 - _ . in segments separated by "/"`);
    }
    return join(this.root, ...key.split('/'));
  }

  private missing(key: string): NotFoundError {
    return new NotFoundError(COMPONENT, `object "${key}" does not exist in ${this.root}`);
  }

  /** Converts a file system error at the edge: ENOENT is NotFound, EACCES/EPERM Permission, the rest StoreError. */
  private error(err: unknown, action: string, path: string, key?: string): Error {
    if (isStrataError(err)) return err;
    const code = (err as NodeJS.ErrnoException)?.code;
    if ((code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') && key !== undefined) {
      return new NotFoundError(COMPONENT, `object "${key}" does not exist in ${this.root}`, { cause: err });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return new PermissionError(COMPONENT, `permission denied to ${action} ${path}; check the owner and mode of that path`, { cause: err });
    }
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      return new StoreError(COMPONENT, `no space left to ${action} ${path}; free space on that disk and run the command again`, { cause: err });
    }
    const transient = code === 'EMFILE' || code === 'ENFILE' || code === 'EAGAIN' || code === 'EBUSY' || code === 'EINTR';
    return new StoreError(COMPONENT, `could not ${action} ${path} (${code ?? String(err)}); check the disk and the path`, { cause: err, transient });
  }
}

function checkRange(range: ByteRange): void {
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
    throw new InvalidArgumentError(COMPONENT, `byte range ${JSON.stringify(range)} is not valid; offset and length must be whole numbers of at least 0`);
  }
}

/** Flushes a folder's entries (new names, renames) to the disk. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // Some file systems (and Windows) cannot fsync a folder; the rename is still atomic there.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'ENOTSUP') throw err;
  } finally {
    await handle.close();
  }
}

/** A Store on the local file system at `path` (made absolute against the current folder). */
export function localStore(path: string, options?: LocalStoreOptions): LocalStore {
  return new LocalStore(path, options);
}

/** Options the `local` descriptor parses from a URL. */
export interface LocalStoreDescriptorOptions extends LocalStoreOptions {
  /** The repository folder. */
  path: string;
}

/** `local:/backups/app`, `local:relative/dir`, or a plain path `/backups/app`. */
export const localStoreDescriptor: StoreDescriptor<LocalStoreDescriptorOptions> = {
  kind: 'store',
  scheme: 'local',
  summary: 'a folder on a local or mounted disk: local:/path or a plain path',
  parse(url: string): LocalStoreDescriptorOptions {
    const path = url.startsWith('local:') ? url.slice('local:'.length) : url;
    if (path.length === 0) {
      throw new InvalidArgumentError(COMPONENT, `repository URL "${url}" names no folder; use local:/path/to/repo or a plain path`);
    }
    if (!url.startsWith('local:') && /^[a-z][a-z0-9+.-]*:/i.test(url) && !isAbsolute(url) && !/^[a-z]:[\\/]/i.test(url)) {
      throw new InvalidArgumentError(COMPONENT, `repository URL "${url}" has a scheme other than local:; use local:/path or a plain path`);
    }
    return { path };
  },
  redact(url: string): string {
    return url;
  },
  create(options: LocalStoreDescriptorOptions): LocalStore {
    const { path, ...rest } = options;
    return new LocalStore(path, rest);
  },
  describe(options: LocalStoreDescriptorOptions): string {
    return `local:${options.path}`;
  },
};

/** What apps load from this package: the `local` store descriptor. */
export const plugins: PluginDescriptor[] = [localStoreDescriptor];
