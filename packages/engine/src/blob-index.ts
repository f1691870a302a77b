/**
 * A compact in-memory index of blobs: 32-byte id -> where the blob sits (pack, offset, stored length),
 * its plaintext length and its type.
 *
 * Layout. Entries live in dense parallel typed arrays (id bytes, pack number, offset, length, raw length,
 * type: 49 bytes an entry), grown by 1.5x. A separate open-addressing table (linear probing, power-of-two
 * size, load <= 0.75) maps the id's first 32-bit word to the entry number; a probe confirms the full id.
 * Ids are keyed hashes, so their leading bytes are uniform and need no further mixing. Worst case just
 * after a growth is about 90 bytes a blob, typically 60-75; no per-entry JavaScript object exists.
 *
 * Packs are interned in a `PackTable` (pack id <-> small number), so each entry stores 4 bytes for it.
 * Offsets and lengths are uint32 (packs and blobs are far below 4 GiB).
 *
 * A blob stored in several packs (an interrupted backup re-uploaded, or a concurrent one) keeps its
 * first location on `add`; `set` replaces it.
 */
import { InvalidArgumentError } from '@strata/core';

export type BlobType = 'data' | 'tree';

/** Where a blob is and what it is. */
export interface BlobEntry {
  /** Number of the pack in the index's `packs` table. */
  pack: number;
  /** Byte offset of the stored (compressed, encrypted) blob in the pack. */
  offset: number;
  /** Stored length in the pack. */
  length: number;
  /** Plaintext length. */
  rawLength: number;
  type: BlobType;
}

const ID_BYTES = 32;
const MAX_U32 = 0xffffffff;

/** Lowercase hex of an id (or any bytes). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Parses a 64-character hex id into 32 bytes; InvalidArgumentError if it is not one. */
export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new InvalidArgumentError('blob-index', `"${String(hex).slice(0, 80)}" is not a 64-character hex id`);
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function checkId(id: Uint8Array): void {
  if (!(id instanceof Uint8Array) || id.length !== ID_BYTES) {
    throw new InvalidArgumentError('blob-index', 'a blob id must be a Uint8Array of 32 bytes');
  }
}

/** Interns pack ids (32 bytes each) as small numbers. Numbers are stable for the table's life. */
export class PackTable {
  private readonly byHex = new Map<string, number>();
  private ids = new Uint8Array(ID_BYTES * 64);
  private count = 0;

  /** Number of packs known. */
  get size(): number {
    return this.count;
  }

  /** The number of a pack, adding it if new. */
  intern(packId: Uint8Array | string): number {
    const bytes = typeof packId === 'string' ? fromHex(packId) : packId;
    checkId(bytes);
    const hex = toHex(bytes);
    const known = this.byHex.get(hex);
    if (known !== undefined) return known;
    if ((this.count + 1) * ID_BYTES > this.ids.length) {
      const grown = new Uint8Array(this.ids.length * 2);
      grown.set(this.ids);
      this.ids = grown;
    }
    this.ids.set(bytes, this.count * ID_BYTES);
    this.byHex.set(hex, this.count);
    return this.count++;
  }

  /** The number of a known pack, or -1. */
  lookup(packId: Uint8Array | string): number {
    const hex = typeof packId === 'string' ? packId.toLowerCase() : toHex(packId);
    return this.byHex.get(hex) ?? -1;
  }

  /** The id of pack number `n` (a copy). */
  id(n: number): Uint8Array {
    this.checkNumber(n);
    return this.ids.slice(n * ID_BYTES, (n + 1) * ID_BYTES);
  }

  /** The hex id of pack number `n`. */
  hex(n: number): string {
    this.checkNumber(n);
    return toHex(this.ids.subarray(n * ID_BYTES, (n + 1) * ID_BYTES));
  }

  private checkNumber(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n >= this.count) {
      throw new InvalidArgumentError('blob-index', `pack number ${n} is not in the pack table`);
    }
  }
}

/**
 * The blob index. `add`/`set`/`get`/`has`/`delete` take 32-byte ids (Uint8Array); ids passed in are
 * copied, never kept. Not thread-safe (one owner; workers get copies of what they need).
 */
export class BlobIndex {
  /** The pack-id table that entries' `pack` numbers refer to. */
  readonly packs: PackTable;

  private cap: number;
  private count = 0;
  private ids: Uint8Array;
  private ids32: Uint32Array;
  private pack: Uint32Array;
  private offset: Uint32Array;
  private length: Uint32Array;
  private rawLength: Uint32Array;
  private types: Uint8Array;
  /** Open-addressing table: entry number + 1, 0 = empty. */
  private slots: Uint32Array;
  private slotMask: number;
  /** Scratch copy of a query id, aligned for 32-bit reads in native byte order. */
  private readonly probe = new Uint8Array(ID_BYTES);
  private readonly probe32 = new Uint32Array(this.probe.buffer);

  constructor(options: { capacity?: number; packs?: PackTable } = {}) {
    this.packs = options.packs ?? new PackTable();
    this.cap = Math.max(16, Math.ceil(options.capacity ?? 1024));
    this.ids = new Uint8Array(this.cap * ID_BYTES);
    this.ids32 = new Uint32Array(this.ids.buffer);
    this.pack = new Uint32Array(this.cap);
    this.offset = new Uint32Array(this.cap);
    this.length = new Uint32Array(this.cap);
    this.rawLength = new Uint32Array(this.cap);
    this.types = new Uint8Array(this.cap);
    const slotCount = tableSizeFor(this.cap);
    this.slots = new Uint32Array(slotCount);
    this.slotMask = slotCount - 1;
  }

  /** Number of blobs. */
  get size(): number {
    return this.count;
  }

  /** Bytes held by the typed arrays (entries, hash table and pack table ids), for accounting. */
  get memoryBytes(): number {
    return (
      this.ids.byteLength +
      this.pack.byteLength +
      this.offset.byteLength +
      this.length.byteLength +
      this.rawLength.byteLength +
      this.types.byteLength +
      this.slots.byteLength +
      this.packs.size * (ID_BYTES + 100)
    );
  }

  /** True if the blob is indexed. */
  has(id: Uint8Array): boolean {
    return this.find(id) >= 0;
  }

  /** Where the blob is, or undefined. */
  get(id: Uint8Array): BlobEntry | undefined {
    const e = this.find(id);
    return e < 0 ? undefined : this.entryAt(e);
  }

  /**
   * Adds a blob. Returns false, and changes nothing, if the id is already indexed (the first location
   * wins). InvalidArgumentError for a bad id, pack number or field out of uint32 range.
   */
  add(id: Uint8Array, entry: BlobEntry): boolean {
    this.checkEntry(entry);
    if (this.find(id) >= 0) return false;
    this.insertNew(entry);
    return true;
  }

  /** Adds a blob or replaces its entry. Returns true if it was new. */
  set(id: Uint8Array, entry: BlobEntry): boolean {
    this.checkEntry(entry);
    const e = this.find(id);
    if (e >= 0) {
      this.write(e, entry);
      return false;
    }
    this.insertNew(entry);
    return true;
  }

  /** Removes a blob. Returns true if it was there. */
  delete(id: Uint8Array): boolean {
    const e = this.find(id);
    if (e < 0) return false;
    this.removeSlotOf(e);
    const last = this.count - 1;
    if (e !== last) {
      // Move the last entry into the hole and repoint its slot.
      const lastSlot = this.slotOf(last);
      this.ids.copyWithin(e * ID_BYTES, last * ID_BYTES, (last + 1) * ID_BYTES);
      this.pack[e] = this.pack[last];
      this.offset[e] = this.offset[last];
      this.length[e] = this.length[last];
      this.rawLength[e] = this.rawLength[last];
      this.types[e] = this.types[last];
      this.slots[lastSlot] = e + 1;
    }
    this.count = last;
    return true;
  }

  /**
   * Removes every blob stored in one of `packs` (pack numbers), e.g. after prune deleted them.
   * Returns how many were removed. O(size).
   */
  deletePacks(packs: Iterable<number>): number {
    const doomed = new Set(packs);
    if (doomed.size === 0) return 0;
    let w = 0;
    for (let r = 0; r < this.count; r++) {
      if (doomed.has(this.pack[r])) continue;
      if (w !== r) {
        this.ids.copyWithin(w * ID_BYTES, r * ID_BYTES, (r + 1) * ID_BYTES);
        this.pack[w] = this.pack[r];
        this.offset[w] = this.offset[r];
        this.length[w] = this.length[r];
        this.rawLength[w] = this.rawLength[r];
        this.types[w] = this.types[r];
      }
      w++;
    }
    const removed = this.count - w;
    this.count = w;
    if (removed > 0) this.rehash(this.slots.length);
    return removed;
  }

  /** Calls `fn` for every blob (id is a view valid only during the call; copy it to keep it). */
  forEach(fn: (id: Uint8Array, entry: BlobEntry) => void): void {
    const n = this.count;
    for (let e = 0; e < n; e++) fn(this.ids.subarray(e * ID_BYTES, (e + 1) * ID_BYTES), this.entryAt(e));
  }

  /** Every blob as [id (a copy), entry]. Do not add or delete while iterating. */
  *entries(): IterableIterator<[Uint8Array, BlobEntry]> {
    for (let e = 0; e < this.count; e++) yield [this.ids.slice(e * ID_BYTES, (e + 1) * ID_BYTES), this.entryAt(e)];
  }

  [Symbol.iterator](): IterableIterator<[Uint8Array, BlobEntry]> {
    return this.entries();
  }

  // ---- internals ----

  private entryAt(e: number): BlobEntry {
    return {
      pack: this.pack[e],
      offset: this.offset[e],
      length: this.length[e],
      rawLength: this.rawLength[e],
      type: this.types[e] === 1 ? 'tree' : 'data',
    };
  }

  private checkEntry(entry: BlobEntry): void {
    const { pack, offset, length, rawLength, type } = entry;
    if (!Number.isInteger(pack) || pack < 0 || pack >= this.packs.size) {
      throw new InvalidArgumentError('blob-index', `pack number ${pack} is not in the pack table; intern the pack id first`);
    }
    for (const [k, v] of [['offset', offset], ['length', length], ['rawLength', rawLength]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > MAX_U32) {
        throw new InvalidArgumentError('blob-index', `${k} ${v} is not an integer in [0, 2^32)`);
      }
    }
    if (type !== 'data' && type !== 'tree') throw new InvalidArgumentError('blob-index', `type must be "data" or "tree", got ${String(type)}`);
  }

  private write(e: number, entry: BlobEntry): void {
    this.pack[e] = entry.pack;
    this.offset[e] = entry.offset;
    this.length[e] = entry.length;
    this.rawLength[e] = entry.rawLength;
    this.types[e] = entry.type === 'tree' ? 1 : 0;
  }

  /** Entry number of the id, or -1. Leaves the id in `probe` for `insertNew`. */
  private find(id: Uint8Array): number {
    checkId(id);
    this.probe.set(id);
    const q = this.probe32;
    const w0 = q[0];
    const slots = this.slots;
    const mask = this.slotMask;
    const ids32 = this.ids32;
    for (let s = w0 & mask; ; s = (s + 1) & mask) {
      const v = slots[s];
      if (v === 0) return -1;
      const b = (v - 1) * 8;
      if (
        ids32[b] === w0 &&
        ids32[b + 1] === q[1] &&
        ids32[b + 2] === q[2] &&
        ids32[b + 3] === q[3] &&
        ids32[b + 4] === q[4] &&
        ids32[b + 5] === q[5] &&
        ids32[b + 6] === q[6] &&
        ids32[b + 7] === q[7]
      ) {
        return v - 1;
      }
    }
  }

  /** Appends the id in `probe` with `entry` (the caller checked it is absent). */
  private insertNew(entry: BlobEntry): void {
    if (this.count === this.cap) this.growEntries();
    if ((this.count + 1) * 4 > this.slots.length * 3) this.rehash(this.slots.length * 2);
    const e = this.count++;
    this.ids.set(this.probe, e * ID_BYTES);
    this.write(e, entry);
    this.placeSlot(e);
  }

  private placeSlot(e: number): void {
    const mask = this.slotMask;
    let s = this.ids32[e * 8] & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = e + 1;
  }

  private slotOf(e: number): number {
    const mask = this.slotMask;
    let s = this.ids32[e * 8] & mask;
    while (this.slots[s] !== e + 1) s = (s + 1) & mask;
    return s;
  }

  /** Empties entry e's slot with backward-shift deletion, so probe chains stay unbroken. */
  private removeSlotOf(e: number): void {
    const slots = this.slots;
    const mask = this.slotMask;
    let hole = this.slotOf(e);
    let s = hole;
    for (;;) {
      s = (s + 1) & mask;
      const v = slots[s];
      if (v === 0) break;
      const home = this.ids32[(v - 1) * 8] & mask;
      // Move v back into the hole unless its home lies cyclically in (hole, s].
      const between = hole <= s ? home > hole && home <= s : home > hole || home <= s;
      if (!between) {
        slots[hole] = v;
        hole = s;
      }
    }
    slots[hole] = 0;
  }

  private growEntries(): void {
    const cap = Math.ceil(this.cap * 1.5);
    this.ids = grow(this.ids, cap * ID_BYTES);
    this.ids32 = new Uint32Array(this.ids.buffer);
    this.pack = grow(this.pack, cap);
    this.offset = grow(this.offset, cap);
    this.length = grow(this.length, cap);
    this.rawLength = grow(this.rawLength, cap);
    this.types = grow(this.types, cap);
    this.cap = cap;
  }

  private rehash(slotCount: number): void {
    this.slots = new Uint32Array(slotCount);
    this.slotMask = slotCount - 1;
    for (let e = 0; e < this.count; e++) this.placeSlot(e);
  }
}

function tableSizeFor(entries: number): number {
  let n = 16;
  while (n * 3 < entries * 4) n *= 2;
  return n;
}

function grow<T extends Uint8Array | Uint32Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}
