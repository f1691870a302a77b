import { createHash, randomBytes } from 'node:crypto';
import { hasCode, type ErrorCode, type ObjectInfo, type Store, type StoreCapabilities } from '@strata/core';

/**
 * The few matchers the contract suites use. Vitest's and Jest's `expect` satisfy it, so the
 * suites never import a test framework themselves: the caller passes its own in.
 */
export interface ContractAssertion {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  readonly not: ContractAssertion;
}

/** What a test body receives from the runner; only `skip` is used (vitest's test context has it). */
export interface ContractTestContext {
  skip?: (note?: string) => void;
}

/**
 * The test runner handed to a contract suite, e.g. `{ describe, test, expect }` from vitest.
 * Hooks are optional; the suites do their set-up and clean-up inside each test.
 */
export interface ContractRunner {
  describe(name: string, fn: () => void): void;
  test(name: string, fn: (context: ContractTestContext) => Promise<void> | void, timeout?: number): void;
  beforeAll?(fn: () => unknown, timeout?: number): void;
  afterAll?(fn: () => unknown, timeout?: number): void;
  beforeEach?(fn: () => unknown, timeout?: number): void;
  afterEach?(fn: () => unknown, timeout?: number): void;
  expect(actual: unknown, message?: string): ContractAssertion;
}

export interface StoreContractOptions {
  /**
   * Size of the object in the large-object test, in bytes. Default 64 MiB. Lower it only for a
   * store whose service cannot hold that much (say so in its README).
   */
  largeObjectSize?: number;
  /** Number of keys in the listing test; must exceed 1,000 so paginated listings are crossed. Default 1,100. */
  manyKeys?: number;
  /** Timeout for each test in milliseconds. Default 120,000. */
  timeout?: number;
  /** A name shown in the suite title, e.g. 's3 (loopback)'. Defaults to the store's name. */
  name?: string;
}

/** Makes a store rooted at `prefix` (a folder inside a shared bucket or directory). */
export type StoreFactory = (prefix: string) => Promise<Store> | Store;

const MiB = 1024 * 1024;
const HEX64 = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'f'.repeat(8);
let prefixCounter = 0;
const runId = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

/** A fresh prefix per test, unique across runs and processes sharing one bucket. */
function freshPrefix(): string {
  prefixCounter += 1;
  return `contract-${runId}-${prefixCounter}`;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic bytes that differ at every position, so an off-by-one range shows. */
function pattern(size: number, seed = 0): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return out;
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

async function collect(iterable: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of iterable) out.push(info);
  return out;
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/**
 * The suite every Store runs. Each test gets a store from `makeStore` on a fresh prefix, calls
 * `create()` when the store has one, writes only through the test's bookkeeping, and at the end
 * checks that the store lists exactly the keys the test wrote, deletes them, and checks that the
 * listing is empty. Groups that need a capability (`conditionalCreate`, `atomicPut`) skip
 * themselves on stores that do not declare it.
 *
 * ```ts
 * import { describe, test, expect } from 'vitest';
 * storeContract({ describe, test, expect }, (prefix) => localStore(join(root, prefix)));
 * ```
 */
export function storeContract(runner: ContractRunner, makeStore: StoreFactory, opts: StoreContractOptions = {}): void {
  const { describe, expect } = runner;
  const largeSize = opts.largeObjectSize ?? 64 * MiB;
  const manyKeys = opts.manyKeys ?? 1100;
  const timeout = opts.timeout ?? 120_000;
  if (manyKeys <= 1000) throw new RangeError('storeContract: manyKeys must exceed 1,000 so paginated listings are crossed');

  /** Keys the current test wrote, so the end-of-test check knows what may be listed. */
  interface Session {
    store: Store;
    put(key: string, data: Uint8Array, options?: { ifAbsent?: boolean }): Promise<void>;
  }

  function expectCode(err: unknown, code: ErrorCode, what: string, store: Store): void {
    expect(hasCode(err, code), `${what}: expected an error with code ${code}, got ${String(err)}`).toBe(true);
    expect((err as { component?: unknown }).component, `${what}: the error names the store`).toBe(store.name);
  }

  function expectBytes(actual: Uint8Array, wanted: Uint8Array, what: string): void {
    expect(actual instanceof Uint8Array, `${what}: returns a Uint8Array`).toBe(true);
    expect(actual.length, `${what}: length`).toBe(wanted.length);
    if (wanted.length <= 4096) expect(Array.from(actual), what).toEqual(Array.from(wanted));
    else expect(sha256(actual), `${what}: content`).toBe(sha256(wanted));
  }

  function t(name: string, body: (s: Session) => Promise<void>, needs?: keyof StoreCapabilities): void {
    runner.test(
      name,
      async (context) => {
        const store = await makeStore(freshPrefix());
        if (needs && !store.capabilities[needs]) {
          await store.close?.();
          // Like restic's HasAtomicReplace(): the group does not apply to this store.
          context?.skip?.(`${store.name} does not declare ${needs}`);
          return;
        }
        await store.create?.();
        const written = new Set<string>();
        const session: Session = {
          store,
          async put(key, data, options) {
            written.add(key);
            await store.put(key, data, options);
          },
        };
        let passed = false;
        try {
          await body(session);
          // Nothing but what the test wrote may be listed (no temp files, no markers).
          const left = await collect(store.list(''));
          for (const info of left) expect(written.has(info.key), `list('') shows only keys the test wrote, found "${info.key}"`).toBe(true);
          passed = true;
        } finally {
          // After a failure, clean up as well as we can and let the first error speak.
          const cleanUp = async () => {
            await pool([...written], 32, (key) => store.delete(key));
            return collect(store.list(''));
          };
          const after = passed ? await cleanUp() : await cleanUp().catch(() => []);
          await store.close?.();
          if (passed) expect(after.map((i) => i.key), 'everything the test wrote is deleted').toEqual([]);
        }
      },
      timeout,
    );
  }

  describe(`store contract${opts.name ? `: ${opts.name}` : ''}`, () => {
    t('describes itself: name, location and capabilities', async ({ store }) => {
      expect(typeof store.name === 'string' && /^[a-z0-9-]+$/.test(store.name), 'name is a short lower-case word').toBe(true);
      expect(typeof store.location === 'string' && store.location.length > 0, 'location is set').toBe(true);
      for (const cap of ['rangeRead', 'conditionalCreate', 'atomicPut'] as const) {
        expect(typeof store.capabilities[cap], `capabilities.${cap} is declared`).toBe('boolean');
      }
    });

    t('an empty object round-trips', async (s) => {
      await s.put('snapshots/empty', new Uint8Array(0));
      expectBytes(await s.store.get('snapshots/empty'), new Uint8Array(0), 'get');
      expect(await s.store.stat('snapshots/empty'), 'stat').toEqual({ key: 'snapshots/empty', size: 0 });
      expectBytes(await s.store.get('snapshots/empty', { offset: 0 }), new Uint8Array(0), 'range of empty');
      expect(await collect(s.store.list('snapshots/')), 'list').toEqual([{ key: 'snapshots/empty', size: 0 }]);
    });

    t('a 1-byte object round-trips', async (s) => {
      await s.put('locks/one', Uint8Array.of(0xa5));
      expectBytes(await s.store.get('locks/one'), Uint8Array.of(0xa5), 'get');
      expect(await s.store.stat('locks/one'), 'stat').toEqual({ key: 'locks/one', size: 1 });
      expectBytes(await s.store.get('locks/one', { offset: 0, length: 1 }), Uint8Array.of(0xa5), 'range');
      expectBytes(await s.store.get('locks/one', { offset: 1 }), new Uint8Array(0), 'offset at end');
    });

    t(`a ${Math.round(largeSize / MiB)} MiB object round-trips, whole and in ranges`, async (s) => {
      const data = new Uint8Array(randomBytes(largeSize));
      const key = `data/${HEX64.slice(0, 2)}/${HEX64}`;
      await s.put(key, data);
      expect((await s.store.stat(key)).size, 'stat size').toBe(largeSize);
      expectBytes(await s.store.get(key), data, 'whole object');
      const mid = Math.floor(largeSize / 2) + 3;
      expectBytes(await s.store.get(key, { offset: mid, length: 1000 }), data.subarray(mid, mid + 1000), 'range in the middle');
      expectBytes(await s.store.get(key, { offset: largeSize - 10 }), data.subarray(largeSize - 10), 'range at the end');
      expectBytes(await s.store.get(key, { offset: largeSize - 10, length: 100 }), data.subarray(largeSize - 10), 'range cut at the end');
    });

    t('ranges at the start, middle and end, and past the end', async (s) => {
      const data = pattern(1000, 1);
      await s.put('index/ranges', data);
      const get = (offset: number, length?: number) => s.store.get('index/ranges', length === undefined ? { offset } : { offset, length });
      expectBytes(await get(0, 10), data.subarray(0, 10), 'start');
      expectBytes(await get(500, 100), data.subarray(500, 600), 'middle');
      expectBytes(await get(990, 10), data.subarray(990), 'end');
      expectBytes(await get(0), data, 'offset 0 without length');
      expectBytes(await get(10), data.subarray(10), 'offset without length');
      expectBytes(await get(995, 100), data.subarray(995), 'length past the end is cut');
      expectBytes(await get(1000), new Uint8Array(0), 'offset at the end');
      expectBytes(await get(1000, 10), new Uint8Array(0), 'offset at the end with length');
      expectBytes(await get(5000, 10), new Uint8Array(0), 'offset after the end');
      expectBytes(await get(7, 0), new Uint8Array(0), 'zero length');
    });

    t('get into a caller buffer returns the same bytes, whole and in ranges', async (s) => {
      // `into` is optional for a store; one that uses it must return a view of its first bytes.
      const data = pattern(5000, 9);
      await s.put('index/into', data);
      const check = (got: Uint8Array, into: Uint8Array, wanted: Uint8Array, what: string) => {
        expectBytes(got, wanted, what);
        if (got.buffer === into.buffer) expect(got.byteOffset, `${what}: a view of the first bytes of the buffer`).toBe(into.byteOffset);
      };
      const big = new Uint8Array(8192).fill(0xee);
      check(await s.store.get('index/into', undefined, { into: big }), big, data, 'whole object into a larger buffer');
      const exact = new Uint8Array(5000);
      check(await s.store.get('index/into', undefined, { into: exact }), exact, data, 'whole object into a buffer of its size');
      const small = new Uint8Array(100);
      check(await s.store.get('index/into', undefined, { into: small }), small, data, 'whole object, buffer too small');
      const ranged = new Uint8Array(8192);
      check(await s.store.get('index/into', { offset: 1000, length: 300 }, { into: ranged }), ranged, data.subarray(1000, 1300), 'range into a buffer');
      check(await s.store.get('index/into', { offset: 4990, length: 100 }, { into: ranged }), ranged, data.subarray(4990), 'range cut at the end into a buffer');
      const offsetView = new Uint8Array(10000).subarray(1234, 9000);
      check(await s.store.get('index/into', { offset: 10, length: 2000 }, { into: offsetView }), offsetView, data.subarray(10, 2010), 'range into a view that starts inside its ArrayBuffer');
      expectCode(await caught(s.store.get('snapshots/missing', undefined, { into: big })), 'NOT_FOUND', 'get of a missing key into a buffer', s.store);
    });

    t('get and stat of a missing key throw NotFoundError', async (s) => {
      expectCode(await caught(s.store.get('snapshots/missing')), 'NOT_FOUND', 'get', s.store);
      expectCode(await caught(s.store.get('snapshots/missing', { offset: 0, length: 1 })), 'NOT_FOUND', 'ranged get', s.store);
      expectCode(await caught(s.store.stat('snapshots/missing')), 'NOT_FOUND', 'stat', s.store);
      expectCode(await caught(s.store.get(`data/00/${HEX64}`)), 'NOT_FOUND', 'get under a folder that does not exist', s.store);
      await s.put('snapshots/present', bytes('x'));
      // A key that is only a folder in the store's layout is not an object either.
      expectCode(await caught(s.store.get('snapshots')), 'NOT_FOUND', 'get of a prefix', s.store);
      expectCode(await caught(s.store.stat('snapshots')), 'NOT_FOUND', 'stat of a prefix', s.store);
    });

    t('put with ifAbsent refuses a second write and keeps the first bytes', async (s) => {
      await s.put('config', bytes('first'), { ifAbsent: true });
      const err = await caught(s.put('config', bytes('second'), { ifAbsent: true }));
      expectCode(err, 'ALREADY_EXISTS', 'second put with ifAbsent', s.store);
      expectBytes(await s.store.get('config'), bytes('first'), 'the first bytes stay');
    });

    t(
      'concurrent puts with ifAbsent: exactly one wins, the object is whole',
      async (s) => {
        const contenders = Array.from({ length: 16 }, (_, i) => pattern(64 * 1024 + i, i + 2));
        const results = await Promise.allSettled(contenders.map((data) => s.put('locks/contested', data, { ifAbsent: true })));
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(winners.length, 'exactly one put wins').toBe(1);
        for (const r of results) if (r.status === 'rejected') expectCode(r.reason, 'ALREADY_EXISTS', 'losing put', s.store);
        expectBytes(await s.store.get('locks/contested'), contenders[winners[0]], "the winner's bytes are stored whole");
      },
      'conditionalCreate',
    );

    t('writing the same bytes to the same key again is harmless', async (s) => {
      const data = pattern(5000, 3);
      await s.put('keys/again', data);
      await s.put('keys/again', data);
      await Promise.all([s.put('keys/again', data), s.put('keys/again', data)]);
      expectBytes(await s.store.get('keys/again'), data, 'get');
      expect(await collect(s.store.list('keys/')), 'listed once').toEqual([{ key: 'keys/again', size: 5000 }]);
    });

    t('put keeps the bytes it was given, not the caller\'s array', async (s) => {
      const data = pattern(100, 4);
      const copy = data.slice();
      await s.put('index/owned', data);
      data.fill(0);
      expectBytes(await s.store.get('index/owned'), copy, 'get after the caller changed its array');
      const got = await s.store.get('index/owned');
      got.fill(1);
      expectBytes(await s.store.get('index/owned'), copy, 'get after the caller changed a returned array');
    });

    t('list by prefix', async (s) => {
      const keys = [`data/ab/${HEX64}`, `data/ab/${HEX64.replace(/^a/, 'b')}`, `data/cd/${HEX64}`, 'snapshots/0011', 'snapshots/0022', 'config'];
      for (const [i, key] of keys.entries()) await s.put(key, pattern(i + 1, i));
      const keysOf = async (prefix: string) => (await collect(s.store.list(prefix))).map((i) => i.key).sort();
      expect(await keysOf('data/ab/'), 'data/ab/').toEqual(keys.slice(0, 2).sort());
      expect(await keysOf('data/'), 'data/').toEqual(keys.slice(0, 3).sort());
      expect(await keysOf('data/a'), 'a prefix that ends inside a folder name').toEqual(keys.slice(0, 2).sort());
      expect(await keysOf('snap'), 'a prefix that ends inside a top-level name').toEqual(['snapshots/0011', 'snapshots/0022']);
      expect(await keysOf('snapshots/001'), 'a prefix inside a file name').toEqual(['snapshots/0011']);
      expect(await keysOf(''), 'everything').toEqual([...keys].sort());
      expect(await keysOf('index/'), 'a prefix that matches nothing').toEqual([]);
      expect(await keysOf('data/ef/'), 'a folder that does not exist').toEqual([]);
      expect(await keysOf('config'), 'a whole key as prefix').toEqual(['config']);
      const sizes = Object.fromEntries((await collect(s.store.list(''))).map((i) => [i.key, i.size]));
      expect(sizes, 'list reports sizes').toEqual(Object.fromEntries(keys.map((k, i) => [k, i + 1])));
    });

    t(`list of more than 1,000 keys (${manyKeys}) yields each exactly once`, async (s) => {
      const keys = Array.from({ length: manyKeys }, (_, i) => `index/${sha256(bytes(`key ${i}`))}`);
      await pool(keys, 32, (key) => s.put(key, bytes(key.slice(-8))));
      const seen = new Map<string, number>();
      for await (const info of s.store.list('index/')) {
        seen.set(info.key, (seen.get(info.key) ?? 0) + 1);
        expect(info.size, `size of ${info.key}`).toBe(8);
      }
      expect(seen.size, 'distinct keys listed').toBe(manyKeys);
      expect([...seen.values()].every((n) => n === 1), 'no key listed twice').toBe(true);
      expect([...seen.keys()].sort(), 'the keys written').toEqual([...keys].sort());
    });

    t('64 concurrent puts and gets', async (s) => {
      const items = Array.from({ length: 64 }, (_, i) => ({ key: `data/${(i * 4).toString(16).padStart(2, '0')}/${sha256(bytes(`o${i}`))}`, data: pattern(16 * 1024 + i * 97, i) }));
      await Promise.all(items.map(({ key, data }) => s.put(key, data)));
      const got = await Promise.all(items.map(({ key }) => s.store.get(key)));
      got.forEach((data, i) => expectBytes(data, items[i].data, `get ${items[i].key}`));
      const ranges = await Promise.all(items.map(({ key }) => s.store.get(key, { offset: 100, length: 50 })));
      ranges.forEach((data, i) => expectBytes(data, items[i].data.subarray(100, 150), `ranged get ${items[i].key}`));
      const same = await Promise.all(Array.from({ length: 64 }, () => s.store.get(items[0].key)));
      same.forEach((data) => expectBytes(data, items[0].data, 'concurrent gets of one key'));
    });

    t('delete removes an object; deleting a missing key is fine', async (s) => {
      await s.put('locks/gone', bytes('lock'));
      await s.store.delete('locks/gone');
      expectCode(await caught(s.store.get('locks/gone')), 'NOT_FOUND', 'get after delete', s.store);
      expectCode(await caught(s.store.stat('locks/gone')), 'NOT_FOUND', 'stat after delete', s.store);
      expect(await collect(s.store.list('locks/')), 'list after delete').toEqual([]);
      await s.store.delete('locks/gone');
      await s.store.delete('locks/never-written');
      await s.store.delete(`data/ff/${HEX64}`);
    });

    t('every character of the key layout', async (s) => {
      const keys = [
        'config',
        `keys/${HEX64}`,
        `data/${HEX64.slice(0, 2)}/${HEX64}`,
        `index/${HEX64}`,
        `snapshots/${HEX64}`,
        `locks/${HEX64}`,
        'misc/abcdefghijklmnopqrstuvwxyz-0123456789_.-x',
        'misc/a.b/c_d/e-f/9',
      ];
      for (const key of keys) await s.put(key, bytes(key));
      for (const key of keys) expectBytes(await s.store.get(key), bytes(key), `get ${key}`);
      for (const key of keys) expect(await s.store.stat(key), `stat ${key}`).toEqual({ key, size: key.length });
      expect((await collect(s.store.list(''))).map((i) => i.key).sort(), 'list returns the keys exactly').toEqual([...keys].sort());
    });

    t(
      'a reader never sees a partly written object',
      async (s) => {
        const data = new Uint8Array(randomBytes(8 * MiB));
        const key = `data/77/${HEX64}`;
        let done = false;
        const writing = s.put(key, data).finally(() => {
          done = true;
        });
        let partial = 0;
        while (!done) {
          try {
            const got = await s.store.get(key);
            if (got.length !== data.length || sha256(got) !== sha256(data)) partial++;
          } catch (err) {
            if (!hasCode(err, 'NOT_FOUND')) throw err;
          }
        }
        await writing;
        expect(partial, 'gets that returned a partial object').toBe(0);
        expectBytes(await s.store.get(key), data, 'after the put');
      },
      'atomicPut',
    );
  });
}
