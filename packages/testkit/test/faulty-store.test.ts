import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  AlreadyExistsError,
  NotFoundError,
  PermissionError,
  StoreError,
  isTransient,
  retryingStore,
  type ByteRange,
  type ObjectInfo,
  type PutOptions,
  type Store,
} from '@strata/core';
import { faultyStore } from '../src/faulty-store.js';

/** A plain in-memory store to wrap. */
function memory(): Store & { objects: Map<string, Uint8Array> } {
  const objects = new Map<string, Uint8Array>();
  return {
    name: 'memory',
    location: 'memory:',
    capabilities: { rangeRead: true, conditionalCreate: true, atomicPut: true },
    objects,
    async put(key: string, data: Uint8Array, options?: PutOptions) {
      if (options?.ifAbsent && objects.has(key)) throw new AlreadyExistsError('memory', `"${key}" exists`);
      objects.set(key, data.slice());
    },
    async get(key: string, range?: ByteRange) {
      const v = objects.get(key);
      if (!v) throw new NotFoundError('memory', `"${key}" does not exist`);
      const start = range?.offset ?? 0;
      const end = range?.length === undefined ? v.byteLength : start + range.length;
      return v.slice(start, end);
    },
    async stat(key: string): Promise<ObjectInfo> {
      const v = objects.get(key);
      if (!v) throw new NotFoundError('memory', `"${key}" does not exist`);
      return { key, size: v.byteLength };
    },
    async *list(prefix: string) {
      for (const [key, v] of objects) if (key.startsWith(prefix)) yield { key, size: v.byteLength };
    },
    async delete(key: string) {
      objects.delete(key);
    },
  };
}

const noWait = { sleep: async () => {} };
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 255);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('faultyStore', () => {
  test('fails the next N requests of the chosen operations with a transient 503', async () => {
    const inner = memory();
    const store = faultyStore(inner, { fault: 'unavailable', operations: ['put'], times: 2 });
    const first = await store.put('a', bytes(3)).catch((e) => e);
    expect(first).toBeInstanceOf(StoreError);
    expect(isTransient(first)).toBe(true);
    expect(first.message).toContain('503');
    await expect(store.put('a', bytes(3))).rejects.toBeInstanceOf(StoreError);
    expect(inner.objects.has('a')).toBe(false);
    await store.put('a', bytes(3));
    expect(inner.objects.has('a')).toBe(true);
    expect(await store.get('a')).toEqual(bytes(3));
    expect(store.injected.unavailable).toBe(2);
    expect(store.calls.put).toBe(3);
  });

  test('connection resets, skipped requests and key prefixes', async () => {
    const inner = memory();
    inner.objects.set('data/1', bytes(10));
    inner.objects.set('index/1', bytes(10));
    const store = faultyStore(inner, { fault: 'reset', keyPrefix: 'data/', after: 1, times: 1 });
    await store.get('data/1');
    await store.get('index/1');
    const e = await store.get('data/1').catch((x) => x);
    expect(isTransient(e)).toBe(true);
    expect((e.cause as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    expect(await store.get('data/1')).toEqual(bytes(10));
  });

  test('a retrying store gets through transient faults and the data is intact', async () => {
    const inner = memory();
    const faulty = faultyStore(inner, [
      { fault: 'unavailable', times: 3 },
      { fault: 'reset', operations: ['get'], times: 2 },
      { fault: 'lost-answer', operations: ['put'], times: 1 },
    ]);
    const store = retryingStore(faulty, { ...noWait, maxAttempts: 10 });
    const data = bytes(1000);
    await store.put('locks/x', data, { ifAbsent: true });
    expect(sha(await store.get('locks/x'))).toBe(sha(data));
    expect(faulty.injected.unavailable).toBe(3);
    expect(faulty.injected.reset).toBe(2);
    expect(faulty.injected['lost-answer']).toBe(1);
  });

  test('a permanent fault is reported, never hidden by retries', async () => {
    const inner = memory();
    const faulty = faultyStore(inner, { fault: 'permanent', operations: ['put'] });
    const store = retryingStore(faulty, noWait);
    await expect(store.put('a', bytes(1))).rejects.toBeInstanceOf(PermissionError);
    expect(faulty.calls.put).toBe(1);
    faulty.rules.length = 0;
    await store.put('a', bytes(1));
  });

  test('a cut response returns fewer bytes, which a hash check catches', async () => {
    const inner = memory();
    const data = bytes(4096);
    inner.objects.set('data/ab/cd', data);
    const store = faultyStore(inner, { fault: 'truncate', times: 1 });
    await store.stat('data/ab/cd'); // truncation only affects reads of bodies
    const cut = await store.get('data/ab/cd');
    expect(cut.byteLength).toBe(2048);
    expect(sha(cut)).not.toBe(sha(data));
    expect(await store.get('data/ab/cd')).toEqual(data);

    const keep = faultyStore(inner, { fault: 'truncate', keepBytes: 10 });
    expect((await keep.get('data/ab/cd', { offset: 100, length: 50 })).byteLength).toBe(10);
  });

  test('latency delays a request and lets later rules decide', async () => {
    const inner = memory();
    const store = faultyStore(inner, [
      { fault: 'latency', latencyMs: 5, times: 1 },
      { fault: 'unavailable', times: 1 },
    ]);
    await expect(store.put('a', bytes(1))).rejects.toBeInstanceOf(StoreError);
    expect(store.injected.latency).toBe(1);
    await store.put('a', bytes(1));
  });

  test('listing faults: refused at the start, or cut after the first page', async () => {
    const inner = memory();
    for (let i = 0; i < 5; i++) inner.objects.set(`snapshots/${i}`, bytes(i));
    const collect = async (s: Store) => {
      const keys: string[] = [];
      for await (const o of s.list('snapshots/')) keys.push(o.key);
      return keys.sort();
    };
    const refused = faultyStore(inner, { fault: 'unavailable', operations: ['list'], times: 1 });
    await expect(collect(refused)).rejects.toBeInstanceOf(StoreError);
    expect(await collect(refused)).toHaveLength(5);

    const cut = faultyStore(inner, { fault: 'lost-answer', operations: ['list'], times: 2 });
    await expect(collect(cut)).rejects.toThrow('connection reset');
    expect(await collect(retryingStore(cut, noWait))).toEqual([0, 1, 2, 3, 4].map((i) => `snapshots/${i}`));
  });
});
