/**
 * Repository locks (locks/<id>): sealed JSON {host, pid, username, time, exclusive, expires, nonce}.
 * Shared locks coexist; an exclusive lock excludes every other live lock. A lock is stale when it
 * expired, or when it was taken on this host by a process that no longer exists. A live lock is
 * refreshed (a new object written, the old one deleted) before it expires.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { LockedError, NotFoundError, isNotFound } from '@strata/core';
import type { Box } from './format/box.js';
import { baseName, keys, parseJsonObject, sha256Hex } from './format/util.js';
import { currentUser } from './format/keys.js';
import type { Store } from '@strata/core';

export interface LockInfo {
  host: string;
  pid: number;
  username: string;
  time: string;
  exclusive: boolean;
  expires: string;
  nonce: string;
}

export interface LockTimings {
  staleAfterMs: number;
  refreshIntervalMs: number;
}

export const DEFAULT_LOCK_TIMINGS: LockTimings = { staleAfterMs: 30 * 60_000, refreshIntervalMs: 5 * 60_000 };

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function isStale(l: LockInfo, now = Date.now()): boolean {
  if (Date.parse(l.expires) < now) return true;
  return l.host === os.hostname() && !processAlive(l.pid);
}

export function describeLock(l: LockInfo): string {
  return `${l.exclusive ? 'an exclusive' : 'a shared'} lock held by pid ${l.pid} on ${l.host} (user ${l.username}) since ${l.time}`;
}

export class LockManager {
  constructor(
    private readonly store: Store,
    private readonly box: Box,
    private readonly timings: LockTimings,
  ) {}

  async readLock(key: string): Promise<LockInfo | undefined> {
    let raw: Uint8Array;
    try {
      raw = await this.store.get(key);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    try {
      const o = parseJsonObject(this.box.openObject('lock', raw, `lock ${baseName(key)}`), 'lock');
      return o as unknown as LockInfo;
    } catch {
      // An unreadable lock (another repository key, damage) is treated as expired garbage.
      return { host: '?', pid: 0, username: '?', time: '1970-01-01T00:00:00.000Z', exclusive: false, expires: '1970-01-01T00:00:00.000Z', nonce: '' };
    }
  }

  async list(): Promise<{ key: string; lock: LockInfo }[]> {
    const out: { key: string; lock: LockInfo }[] = [];
    for await (const o of this.store.list('locks/')) {
      const lock = await this.readLock(o.key);
      if (lock) out.push({ key: o.key, lock });
    }
    return out;
  }

  private async write(exclusive: boolean, nonce: string): Promise<string> {
    const now = Date.now();
    const info: LockInfo = {
      host: os.hostname(),
      pid: process.pid,
      username: currentUser(),
      time: new Date(now).toISOString(),
      exclusive,
      expires: new Date(now + this.timings.staleAfterMs).toISOString(),
      nonce,
    };
    const sealed = this.box.sealObject('lock', new TextEncoder().encode(JSON.stringify(info)));
    const key = keys.lock(sha256Hex(sealed));
    await this.store.put(key, sealed);
    return key;
  }

  private conflict(exclusive: boolean, others: { key: string; lock: LockInfo }[]): LockInfo | undefined {
    for (const o of others) {
      if (isStale(o.lock)) continue;
      if (exclusive || o.lock.exclusive) return o.lock;
    }
    return undefined;
  }

  /** Takes a lock or throws LockedError at once naming the holder. */
  async acquire(exclusive: boolean): Promise<HeldLock> {
    const before = this.conflict(exclusive, await this.list());
    if (before) throw this.lockedError(exclusive, before);
    const nonce = randomBytes(16).toString('hex');
    const key = await this.write(exclusive, nonce);
    // Someone may have raced us between the listing and the write: look again.
    const after = this.conflict(exclusive, (await this.list()).filter((o) => o.key !== key && o.lock.nonce !== nonce));
    if (after) {
      await this.store.delete(key);
      throw this.lockedError(exclusive, after);
    }
    return new HeldLock(this, key, exclusive, nonce, this.timings.refreshIntervalMs, this.timings.staleAfterMs);
  }

  private lockedError(exclusive: boolean, holder: LockInfo): LockedError {
    return new LockedError('engine', `the repository is locked: ${describeLock(holder)}; ${exclusive ? 'wait for it to finish' : 'wait for the exclusive operation to finish'}, or run "strata unlock" if that process is gone.`, { holder });
  }

  async refresh(old: string, exclusive: boolean, nonce: string): Promise<string> {
    const key = await this.write(exclusive, nonce);
    await this.store.delete(old).catch(() => undefined);
    return key;
  }

  /** Removes stale locks (every lock with `all`); returns how many were removed. */
  async removeStale(all = false): Promise<number> {
    let n = 0;
    for (const o of await this.list()) {
      if (all || isStale(o.lock)) {
        await this.store.delete(o.key);
        n++;
      }
    }
    return n;
  }

  async release(key: string): Promise<void> {
    try {
      await this.store.delete(key);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
}

export class HeldLock {
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  private released = false;
  private refreshedAt = Date.now();

  constructor(
    private readonly manager: LockManager,
    public key: string,
    readonly exclusive: boolean,
    private readonly nonce: string,
    interval: number,
    private readonly staleAfterMs = DEFAULT_LOCK_TIMINGS.staleAfterMs,
  ) {
    this.timer = setInterval(() => {
      this.refreshing = this.refreshing.then(async () => {
        if (this.released) return;
        try {
          this.key = await this.manager.refresh(this.key, this.exclusive, this.nonce);
          this.refreshedAt = Date.now();
        } catch {
          // Try again at the next interval; the lock stays valid until it expires.
        }
      });
    }, interval);
    this.timer.unref();
  }

  /**
   * Throws LockedError when the lock could not be refreshed before it expired: another process
   * may have removed it as stale, so committing work (a snapshot, a prune) would be unsafe.
   */
  assertValid(): void {
    if (Date.now() - this.refreshedAt >= this.staleAfterMs) {
      throw new LockedError('engine', 'the repository lock expired because it could not be refreshed (is the store reachable?); the operation was stopped before committing; run it again.');
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.refreshing;
    await this.manager.release(this.key);
  }
}
