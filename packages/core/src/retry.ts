import { hasCode, isStrataError } from './errors.js';
import type { ByteRange, ObjectInfo, PutOptions, Store } from './store.js';

/**
 * How a failed call is tried again: exponential backoff with full jitter (the delay before retry n
 * is a random duration between 0 and min(maxDelayMs, baseDelayMs * 2^(n-1))). Only errors that
 * `retryable` accepts are retried; anything else is rethrown at once.
 */
export interface RetryPolicy {
  /** Attempts in all, the first one included. Default 6; 1 disables retries. */
  maxAttempts?: number;
  /** Upper bound of the first delay, in milliseconds. Default 100. */
  baseDelayMs?: number;
  /** No delay is longer than this, in milliseconds. Default 10 000. */
  maxDelayMs?: number;
  /** Which errors may be retried. Default: StrataErrors marked `transient`. */
  retryable?: (error: unknown) => boolean;
  /** Waits between attempts; tests pass a fast one. Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
  /** Called before each wait, for logs and metrics. */
  onRetry?: (event: RetryEvent) => void;
}

export interface RetryEvent {
  /** The attempt that failed, from 1. */
  attempt: number;
  /** How long the policy waits before the next attempt. */
  delayMs: number;
  error: unknown;
  /** The store operation, when the retry comes from retryingStore. */
  operation?: string;
}

export const DEFAULT_RETRY_POLICY = Object.freeze({
  maxAttempts: 6,
  baseDelayMs: 100,
  maxDelayMs: 10_000,
});

/** True for errors that a retry may cure: StrataErrors with `transient` set. */
export function isTransient(error: unknown): boolean {
  return isStrataError(error) && error.transient === true;
}

const timerSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The policy's settings that withRetry and retryingStore's list share, defaults applied. */
function settings(policy: RetryPolicy) {
  return {
    maxAttempts: Math.max(1, policy.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts),
    retryable: policy.retryable ?? isTransient,
    sleep: policy.sleep ?? timerSleep,
  };
}

/** The delay before the retry that follows failed attempt `attempt` (from 1), with full jitter. */
export function backoffDelay(attempt: number, policy: RetryPolicy = {}): number {
  const base = policy.baseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs;
  const cap = policy.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs;
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  const random = policy.random ?? Math.random;
  return Math.floor(random() * ceiling);
}

/**
 * Calls `fn` until it resolves, a non-retryable error is thrown, or `maxAttempts` attempts have
 * failed; then rethrows the last error unchanged. `fn` may be called several times, so it must be
 * idempotent. It receives the attempt number, from 1.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy = {},
  operation?: string,
): Promise<T> {
  const { maxAttempts, retryable, sleep } = settings(policy);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= maxAttempts || !retryable(error)) throw error;
      const delayMs = backoffDelay(attempt, policy);
      policy.onRetry?.({ attempt, delayMs, error, operation });
      await sleep(delayMs);
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Wraps a store so every call is retried under `policy`. Name, location and capabilities are the
 * inner store's. Two cases need care beyond a plain retry:
 * - `put(..., { ifAbsent: true })`: when an earlier attempt reached the service but its answer was
 *   lost, the retry finds the object present. If the stored bytes are the ones being written, the put
 *   succeeded and no AlreadyExistsError is thrown.
 * - `list()`: a listing that fails part way is started again and keys already yielded are skipped,
 *   so each key is still yielded once. The attempt count starts over whenever a try made progress.
 */
export function retryingStore(store: Store, policy: RetryPolicy = {}): Store {
  const wrapped: Store = {
    name: store.name,
    location: store.location,
    capabilities: store.capabilities,

    put(key: string, data: Uint8Array, options?: PutOptions): Promise<void> {
      return withRetry(
        async (attempt) => {
          try {
            await store.put(key, data, options);
          } catch (error) {
            if (attempt > 1 && options?.ifAbsent && hasCode(error, 'ALREADY_EXISTS')) {
              const existing = await store.get(key);
              if (sameBytes(existing, data)) return;
            }
            throw error;
          }
        },
        policy,
        'put',
      );
    },

    get(key: string, range?: ByteRange): Promise<Uint8Array> {
      return withRetry(() => store.get(key, range), policy, 'get');
    },

    stat(key: string): Promise<ObjectInfo> {
      return withRetry(() => store.stat(key), policy, 'stat');
    },

    delete(key: string): Promise<void> {
      return withRetry(() => store.delete(key), policy, 'delete');
    },

    list(prefix: string): AsyncIterable<ObjectInfo> {
      return {
        async *[Symbol.asyncIterator]() {
          const seen = new Set<string>();
          const { maxAttempts, retryable, sleep } = settings(policy);
          for (let attempt = 1; ; attempt++) {
            const seenBefore = seen.size;
            try {
              for await (const info of store.list(prefix)) {
                if (seen.has(info.key)) continue;
                seen.add(info.key);
                yield info;
              }
              return;
            } catch (error) {
              // A long listing that keeps making progress is not given up on.
              if (seen.size > seenBefore) attempt = 1;
              if (attempt >= maxAttempts || !retryable(error)) throw error;
              const delayMs = backoffDelay(attempt, policy);
              policy.onRetry?.({ attempt, delayMs, error, operation: 'list' });
              await sleep(delayMs);
            }
          }
        },
      };
    },
  };
  if (store.create) {
    const create = store.create.bind(store);
    wrapped.create = () => withRetry(() => create(), policy, 'create');
  }
  if (store.close) wrapped.close = store.close.bind(store);
  return wrapped;
}
