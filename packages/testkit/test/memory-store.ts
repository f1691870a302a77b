import { AlreadyExistsError, NotFoundError, type ByteRange, type GetOptions, type ObjectInfo, type PutOptions, type Store, type StoreCapabilities } from '@strata/core';

/** Faults a test can plant in the memory store to prove the store contract catches them. */
export interface MemoryFlaws {
  ignoreRangeLength?: boolean;
  missingIsEmpty?: boolean;
  listTwiceAfter?: number;
  ignoreIfAbsent?: boolean;
  deleteMissingThrows?: boolean;
  leakTempKey?: boolean;
  keepCallerArray?: boolean;
  wrongComponent?: boolean;
  deleteIsNoop?: boolean;
  /** With `into`: fills the buffer but returns all of it, not a view of the bytes read. */
  intoWholeBuffer?: boolean;
}

/**
 * A reference Store over a Map shared by every prefix, so the contract's fresh-prefix and
 * clean-up logic runs as it would on a shared bucket. Used only by testkit's own tests.
 */
export function memoryStore(objects: Map<string, Uint8Array>, prefix: string, capabilities: StoreCapabilities, flaws: MemoryFlaws = {}): Store {
  const full = (key: string) => `${prefix}/${key}`;
  const name = 'memory';
  const missing = (key: string) => new NotFoundError(flaws.wrongComponent ? 'elsewhere' : name, `object "${key}" does not exist`);
  return {
    name,
    location: `memory:${prefix}`,
    capabilities,
    async put(key: string, data: Uint8Array, options?: PutOptions) {
      await Promise.resolve();
      if (options?.ifAbsent && !flaws.ignoreIfAbsent && objects.has(full(key))) throw new AlreadyExistsError(name, `object "${key}" exists`);
      objects.set(full(key), flaws.keepCallerArray ? data : data.slice());
      if (flaws.leakTempKey) objects.set(full(`${key}.tmp`), new Uint8Array(0));
    },
    async get(key: string, range?: ByteRange, options?: GetOptions) {
      await Promise.resolve();
      const data = objects.get(full(key));
      if (!data) {
        if (flaws.missingIsEmpty) return new Uint8Array(0);
        throw missing(key);
      }
      const end = !range || range.length === undefined || flaws.ignoreRangeLength ? data.length : Math.min(data.length, range.offset + range.length);
      const bytes = data.subarray(Math.min(range?.offset ?? 0, data.length), end);
      const into = options?.into;
      if (into && into.length >= bytes.length) {
        into.set(bytes);
        return flaws.intoWholeBuffer ? into : into.subarray(0, bytes.length);
      }
      return bytes.slice();
    },
    async stat(key: string): Promise<ObjectInfo> {
      await Promise.resolve();
      const data = objects.get(full(key));
      if (!data) throw missing(key);
      return { key, size: data.length };
    },
    async *list(p: string) {
      let n = 0;
      for (const [k, data] of [...objects]) {
        if (!k.startsWith(full(p))) continue;
        const info = { key: k.slice(prefix.length + 1), size: data.length };
        yield info;
        if (flaws.listTwiceAfter !== undefined && ++n > flaws.listTwiceAfter) yield info;
      }
    },
    async delete(key: string) {
      await Promise.resolve();
      if (flaws.deleteMissingThrows && !objects.has(full(key))) throw missing(key);
      if (flaws.deleteIsNoop) return;
      objects.delete(full(key));
      if (flaws.leakTempKey) objects.delete(full(`${key}.tmp`));
    },
  };
}
