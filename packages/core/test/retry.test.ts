import { describe, expect, test } from 'vitest';
import {
  AlreadyExistsError,
  NotFoundError,
  PermissionError,
  StoreError,
  backoffDelay,
  isTransient,
  retryingStore,
  withRetry,
  type ObjectInfo,
  type RetryEvent,
  type RetryPolicy,
  type Store,
} from '../src/index.js';

/** Records the waits instead of sleeping, so the tests are fast and see every delay. */
function fastPolicy(extra: RetryPolicy = {}): RetryPolicy & { waits: number[]; events: RetryEvent[] } {
  const waits: number[] = [];
  const events: RetryEvent[] = [];
  return {
    sleep: async (ms) => {
      waits.push(ms);
    },
    onRetry: (e) => events.push(e),
    ...extra,
    waits,
    events,
  };
}

const transient = () => new StoreError('test', 'service unavailable (503)', { transient: true });

/** A small in-memory store whose next calls can be made to fail. */
class FlakyMemoryStore implements Store {
  readonly name = 'memory';
  readonly location = 'memory:';
  readonly capabilities = { rangeRead: true, conditionalCreate: true, atomicPut: true };
  readonly objects = new Map<string, Uint8Array>();
  /** Errors thrown by the next calls, in order. */
  failures: unknown[] = [];
  /** For list(): fail after yielding this many keys (once per entry in failures). */
  failListAfter = -1;
  /** When set, put() stores the object and then throws this (a lost answer). */
  loseNextPutAnswer: unknown;
  calls = 0;

  private maybeFail(): void {
    this.calls++;
    const f = this.failures.shift();
    if (f !== undefined) throw f;
  }
  async put(key: string, data: Uint8Array, options?: { ifAbsent?: boolean }): Promise<void> {
    this.maybeFail();
    if (options?.ifAbsent && this.objects.has(key)) throw new AlreadyExistsError('memory', `"${key}" exists`);
    this.objects.set(key, data.slice());
    if (this.loseNextPutAnswer !== undefined) {
      const e = this.loseNextPutAnswer;
      this.loseNextPutAnswer = undefined;
      throw e;
    }
  }
  async get(key: string): Promise<Uint8Array> {
    this.maybeFail();
    const v = this.objects.get(key);
    if (!v) throw new NotFoundError('memory', `"${key}" does not exist`);
    return v.slice();
  }
  async stat(key: string): Promise<ObjectInfo> {
    const v = await this.get(key);
    return { key, size: v.byteLength };
  }
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.calls++;
    let n = 0;
    for (const [key, v] of [...this.objects].sort()) {
      if (!key.startsWith(prefix)) continue;
      if (n === this.failListAfter && this.failures.length > 0) throw this.failures.shift();
      n++;
      yield { key, size: v.byteLength };
    }
  }
  async delete(key: string): Promise<void> {
    this.maybeFail();
    this.objects.delete(key);
  }
}

describe('backoffDelay', () => {
  test('grows exponentially up to the cap, with full jitter below the ceiling', () => {
    const top = { random: () => 0.999999, baseDelayMs: 100, maxDelayMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, top))).toEqual([99, 199, 399, 799, 1599, 3199, 6399, 9999]);
    expect(backoffDelay(30, top)).toBe(9999);
    expect(backoffDelay(3, { random: () => 0 })).toBe(0);
    expect(backoffDelay(3, { random: () => 0.5 })).toBe(200);
  });
});

describe('withRetry', () => {
  test('retries transient errors and returns the first success', async () => {
    const policy = fastPolicy({ random: () => 0.5 });
    let calls = 0;
    const result = await withRetry(async (attempt) => {
      calls++;
      if (attempt < 4) throw transient();
      return 'ok';
    }, policy);
    expect(result).toBe('ok');
    expect(calls).toBe(4);
    expect(policy.waits).toEqual([50, 100, 200]);
    expect(policy.events.map((e) => e.attempt)).toEqual([1, 2, 3]);
  });

  test('rethrows a permanent error at once', async () => {
    const policy = fastPolicy();
    let calls = 0;
    const err = new PermissionError('s3', 'access denied to bucket "b"');
    await expect(
      withRetry(async () => {
        calls++;
        throw err;
      }, policy),
    ).rejects.toBe(err);
    expect(calls).toBe(1);
    expect(policy.waits).toEqual([]);
  });

  test('errors that are not StrataErrors are not retried by default', async () => {
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new TypeError('bug');
      }, fastPolicy()),
    ).rejects.toThrow('bug');
    expect(calls).toBe(1);
  });

  test('gives up after maxAttempts and rethrows the last error', async () => {
    const policy = fastPolicy({ maxAttempts: 3 });
    let calls = 0;
    const errors: unknown[] = [];
    const p = withRetry(async () => {
      calls++;
      const e = transient();
      errors.push(e);
      throw e;
    }, policy);
    await expect(p).rejects.toBeInstanceOf(StoreError);
    await p.catch((e) => expect(e).toBe(errors[2]));
    expect(calls).toBe(3);
    expect(policy.waits).toHaveLength(2);
  });

  test('defaults to six attempts and a custom retryable decides', async () => {
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw transient();
      }, fastPolicy()),
    ).rejects.toThrow('503');
    expect(calls).toBe(6);

    calls = 0;
    const value = await withRetry(
      async () => {
        if (++calls < 2) throw new Error('ECONNRESET');
        return calls;
      },
      fastPolicy({ retryable: (e) => e instanceof Error && e.message === 'ECONNRESET' }),
    );
    expect(value).toBe(2);
  });

  test('isTransient', () => {
    expect(isTransient(transient())).toBe(true);
    expect(isTransient(new StoreError('x', 'y'))).toBe(false);
    expect(isTransient(new Error('x'))).toBe(false);
    expect(isTransient({ code: 'STORE', component: 'x', name: 'StoreError', transient: true })).toBe(true);
  });
});

describe('retryingStore', () => {
  test('passes identity through and retries every operation', async () => {
    const inner = new FlakyMemoryStore();
    const policy = fastPolicy();
    const store = retryingStore(inner, policy);
    expect(store.name).toBe('memory');
    expect(store.location).toBe('memory:');
    expect(store.capabilities).toBe(inner.capabilities);

    inner.failures = [transient(), transient()];
    await store.put('a', new Uint8Array([1, 2, 3]));
    inner.failures = [transient()];
    expect([...(await store.get('a'))]).toEqual([1, 2, 3]);
    inner.failures = [transient()];
    expect(await store.stat('a')).toEqual({ key: 'a', size: 3 });
    inner.failures = [transient()];
    await store.delete('a');
    expect(inner.objects.size).toBe(0);
    expect(policy.events.map((e) => e.operation)).toEqual(['put', 'put', 'get', 'stat', 'delete']);
  });

  test('not found is reported at once', async () => {
    const inner = new FlakyMemoryStore();
    const store = retryingStore(inner, fastPolicy());
    await expect(store.get('missing')).rejects.toBeInstanceOf(NotFoundError);
    expect(inner.calls).toBe(1);
  });

  test('a conditional put whose answer was lost is not reported as AlreadyExists', async () => {
    const inner = new FlakyMemoryStore();
    const store = retryingStore(inner, fastPolicy());
    inner.loseNextPutAnswer = transient();
    await store.put('locks/1', new Uint8Array([7]), { ifAbsent: true });
    expect([...inner.objects.get('locks/1')!]).toEqual([7]);

    // Someone else's object under the key is still a conflict.
    inner.loseNextPutAnswer = undefined;
    inner.objects.set('locks/2', new Uint8Array([1]));
    await expect(store.put('locks/2', new Uint8Array([2]), { ifAbsent: true })).rejects.toBeInstanceOf(AlreadyExistsError);
    inner.failures = [transient()];
    await expect(store.put('locks/2', new Uint8Array([2]), { ifAbsent: true })).rejects.toBeInstanceOf(AlreadyExistsError);
  });

  test('a listing that fails part way is resumed without duplicates', async () => {
    const inner = new FlakyMemoryStore();
    for (let i = 0; i < 10; i++) inner.objects.set(`data/${i}`, new Uint8Array(i));
    inner.objects.set('other', new Uint8Array(1));
    inner.failListAfter = 4;
    inner.failures = [transient(), transient()];
    const store = retryingStore(inner, fastPolicy());
    const keys: string[] = [];
    for await (const info of store.list('data/')) keys.push(info.key);
    expect(keys.sort()).toEqual([...Array(10).keys()].map((i) => `data/${i}`).sort());
  });

  test('a listing that keeps failing gives up', async () => {
    const inner = new FlakyMemoryStore();
    inner.objects.set('data/1', new Uint8Array(1));
    inner.failListAfter = 0;
    inner.failures = Array.from({ length: 10 }, transient);
    const store = retryingStore(inner, fastPolicy({ maxAttempts: 3 }));
    const consume = async () => {
      for await (const _ of store.list('data/')) void _;
    };
    await expect(consume()).rejects.toThrow('503');
    expect(inner.failures).toHaveLength(7);
  });
});
