import { PermissionError, StoreError } from '@strata/core';
import type { ByteRange, ObjectInfo, PutOptions, Store } from '@strata/core';

/** The store calls a fault can hit. */
export type FaultOperation = 'put' | 'get' | 'stat' | 'list' | 'delete' | 'create';

/**
 * What happens to a request that a rule hits:
 * - `unavailable`: a transient StoreError like an HTTP 503 answer; the inner store is not called.
 * - `reset`: a transient StoreError like a connection reset (ECONNRESET); the inner store is not called.
 * - `lost-answer`: the inner store does the work, then the caller gets a transient reset, as when the
 *   connection drops after the service acted (a retried put then finds its own object).
 * - `truncate`: get() returns only the first part of the bytes, as when a body is cut mid-transfer
 *   and the client does not notice; other operations pass.
 * - `latency`: the request waits `latencyMs` before going on.
 * - `permanent`: a permanent error (PermissionError), which a retry policy must not retry.
 */
export type FaultKind = 'unavailable' | 'reset' | 'lost-answer' | 'truncate' | 'latency' | 'permanent';

export interface FaultRule {
  fault: FaultKind;
  /** Operations the rule applies to. Default: all. */
  operations?: FaultOperation[];
  /** Only keys (or list prefixes) starting with this. Default: every key. */
  keyPrefix?: string;
  /** Let this many matching requests pass before the rule acts. Default 0. */
  after?: number;
  /** How many matching requests the rule acts on, then it is spent. Default: unlimited. */
  times?: number;
  /** For `latency`: how long to wait, in milliseconds. Default 50. */
  latencyMs?: number;
  /** For `truncate`: how many bytes to keep. Default: half of what was read. */
  keepBytes?: number;
}

export interface FaultyStore extends Store {
  /** The rules in force; push to add one, or set `rules.length = 0` to heal the store. */
  readonly rules: FaultRule[];
  /** How many faults of each kind have been injected so far. */
  readonly injected: Record<FaultKind, number>;
  /** How many calls of each operation the wrapper has seen (failed ones included). */
  readonly calls: Record<FaultOperation, number>;
}

interface RuleState {
  seen: number;
  acted: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Wraps a store and injects faults by plan, to show that callers retry what is transient, report
 * what is permanent, and detect damaged bytes. Rules are checked in order for every call; the
 * first one that applies decides (latency rules add their wait and let later rules decide too).
 */
export function faultyStore(inner: Store, plan: FaultRule | FaultRule[] = []): FaultyStore {
  const rules: FaultRule[] = Array.isArray(plan) ? [...plan] : [plan];
  const states = new WeakMap<FaultRule, RuleState>();
  const injected: Record<FaultKind, number> = {
    unavailable: 0,
    reset: 0,
    'lost-answer': 0,
    truncate: 0,
    latency: 0,
    permanent: 0,
  };
  const calls: Record<FaultOperation, number> = { put: 0, get: 0, stat: 0, list: 0, delete: 0, create: 0 };
  const component = inner.name;

  function unavailable(op: FaultOperation, key: string): StoreError {
    return new StoreError(component, `${op} "${key}" failed: service unavailable (HTTP 503, injected); retry later.`, {
      transient: true,
      cause: Object.assign(new Error('503 Service Unavailable'), { statusCode: 503 }),
    });
  }
  function reset(op: FaultOperation, key: string): StoreError {
    return new StoreError(component, `${op} "${key}" failed: connection reset by peer (injected); retry.`, {
      transient: true,
      cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    });
  }

  /** Picks the fault for this call, after waiting out any latency rules. */
  async function decide(op: FaultOperation, key: string): Promise<FaultRule | undefined> {
    calls[op]++;
    for (const rule of rules) {
      if (rule.operations && !rule.operations.includes(op)) continue;
      if (rule.keyPrefix !== undefined && !key.startsWith(rule.keyPrefix)) continue;
      if (rule.fault === 'truncate' && op !== 'get') continue;
      let state = states.get(rule);
      if (!state) states.set(rule, (state = { seen: 0, acted: 0 }));
      state.seen++;
      if (state.seen <= (rule.after ?? 0)) continue;
      if (rule.times !== undefined && state.acted >= rule.times) continue;
      state.acted++;
      injected[rule.fault]++;
      if (rule.fault === 'latency') {
        await sleep(rule.latencyMs ?? 50);
        continue;
      }
      return rule;
    }
    return undefined;
  }

  /** Runs one call under the fault chosen for it. */
  async function run<T>(op: FaultOperation, key: string, call: () => Promise<T>): Promise<T> {
    const rule = await decide(op, key);
    switch (rule?.fault) {
      case undefined:
        return call();
      case 'unavailable':
        throw unavailable(op, key);
      case 'reset':
        throw reset(op, key);
      case 'permanent':
        throw new PermissionError(component, `${op} "${key}" was refused: access denied (HTTP 403, injected); check the credentials.`);
      case 'lost-answer':
        await call();
        throw reset(op, key);
      case 'truncate': {
        const bytes = (await call()) as unknown as Uint8Array;
        const keep = Math.min(bytes.byteLength, rule.keepBytes ?? Math.floor(bytes.byteLength / 2));
        return bytes.subarray(0, keep) as unknown as T;
      }
      default:
        return call();
    }
  }

  const store: FaultyStore = {
    name: inner.name,
    location: inner.location,
    capabilities: inner.capabilities,
    rules,
    injected,
    calls,

    put(key: string, data: Uint8Array, options?: PutOptions): Promise<void> {
      return run('put', key, () => inner.put(key, data, options));
    },
    get(key: string, range?: ByteRange): Promise<Uint8Array> {
      return run('get', key, () => inner.get(key, range));
    },
    stat(key: string): Promise<ObjectInfo> {
      return run('stat', key, () => inner.stat(key));
    },
    delete(key: string): Promise<void> {
      return run('delete', key, () => inner.delete(key));
    },
    list(prefix: string): AsyncIterable<ObjectInfo> {
      return {
        async *[Symbol.asyncIterator]() {
          // The fault hits the request that opens the listing; a lost answer fails after the first page.
          const rule = await decide('list', prefix);
          switch (rule?.fault) {
            case 'unavailable':
              throw unavailable('list', prefix);
            case 'reset':
              throw reset('list', prefix);
            case 'permanent':
              throw new PermissionError(component, `list "${prefix}" was refused: access denied (HTTP 403, injected); check the credentials.`);
            case 'lost-answer': {
              let n = 0;
              for await (const info of inner.list(prefix)) {
                if (n++ >= 1) break;
                yield info;
              }
              throw reset('list', prefix);
            }
            default:
              yield* inner.list(prefix);
          }
        },
      };
    },
    async close(): Promise<void> {
      await inner.close?.();
    },
  };
  if (inner.create) {
    const create = inner.create.bind(inner);
    store.create = () => run('create', '', create);
  }
  return store;
}
