/**
 * Runs prune on the repository in argv[2] through a store that kills this process (SIGKILL, no
 * chance to clean up) right after its N-th change completes (N = argv[3]; puts and deletes, lock
 * files not counted). When N is never reached it prints {"ops": <changes made>} and exits 0.
 * Started by prune-crash.test.ts.
 */
import type { ByteRange, PutOptions, Store } from '@strata/core';
import { localStore } from '@strata/store-local';
import { Repository } from '../src/index.js';
import { prune } from '../src/prune.js';
import { ciphers, codecs, PASSWORD } from './helpers.js';

const [dir, killAfterArg, maxUnusedArg] = process.argv.slice(2);
const killAfter = Number(killAfterArg);
const inner = localStore(dir);
let ops = 0;

function changed(key: string): void {
  if (key.startsWith('locks/')) return;
  ops++;
  if (ops === killAfter) process.kill(process.pid, 'SIGKILL');
}

const store: Store = {
  name: inner.name,
  location: inner.location,
  capabilities: inner.capabilities,
  async put(key: string, data: Uint8Array, options?: PutOptions) {
    await inner.put(key, data, options);
    changed(key);
  },
  get: (key: string, range?: ByteRange) => inner.get(key, range),
  stat: (key: string) => inner.stat(key),
  list: (prefix: string) => inner.list(prefix),
  async delete(key: string) {
    await inner.delete(key);
    changed(key);
  },
};

const repo = await Repository.open({ store, password: PASSWORD, codecs: codecs(), ciphers: ciphers(), cacheDir: false, workers: 0 });
const report = await prune(repo.internals, { maxUnused: Number(maxUnusedArg ?? '0.05') });
await repo.close();
process.stdout.write(`${JSON.stringify({ ops, report })}\n`);
