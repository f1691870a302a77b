/**
 * The sealing rules of the format, shared by the main thread and the worker threads: how a blob,
 * a pack header, an index file, a snapshot, a lock and the config are turned into stored bytes.
 */
import type { Cipher, Codec } from '@strata/core';
import { ConfigError, CorruptError, isStrataError } from '@strata/core';
import { corrupt, hmacSha256, sha256 } from './util.js';

export const BLOB_DATA = 0;
export const BLOB_TREE = 1;
export type BlobType = typeof BLOB_DATA | typeof BLOB_TREE;

/** Codec id 0: stored as is. */
export const CODEC_NONE = 0;

/** Associated data for the sealed objects that are not blobs (a blob binds its type and id). */
export const AD = {
  config: new TextEncoder().encode('strata/config/v1'),
  key: new TextEncoder().encode('strata/key/v1'),
  packHeader: new TextEncoder().encode('strata/pack-header/v1'),
  index: new TextEncoder().encode('strata/index/v1'),
  snapshot: new TextEncoder().encode('strata/snapshot/v1'),
  lock: new TextEncoder().encode('strata/lock/v1'),
} as const;
export type ObjectKind = keyof typeof AD;

export interface MasterKeys {
  /** Cipher key for everything sealed. */
  encrypt: Uint8Array;
  /** HMAC-SHA-256 key for blob ids. */
  mac: Uint8Array;
  /** Seed of the chunker's gear table. */
  chunker: Uint8Array;
}

/** What compressing a blob means: a codec and level, 'auto' (sample test) or none. */
export interface CompressionChoice {
  mode: 'auto' | 'none' | 'codec';
  codec?: Codec;
  level?: number;
  /** 'auto': level for blobs whose sample looks incompressible; without it they are stored raw. */
  sparseLevel?: number;
}

/** Parses 'auto' | 'none' | 'name' | 'name:level' against the available codecs. */
export function parseCompression(spec: string, codecs: Codec[]): CompressionChoice {
  const s = spec.trim().toLowerCase();
  if (s === 'none' || s === 'off') return { mode: 'none' };
  if (s === 'auto' || s === '') {
    const zstd = codecs.find((c) => c.name === 'zstd');
    const codec = zstd ?? codecs[0];
    return codec ? { mode: 'auto', codec, level: codec.levels.default, ...(zstd ? { sparseLevel: ZSTD_SPARSE_LEVEL } : {}) } : { mode: 'none' };
  }
  const [name, levelText] = s.split(':', 2);
  const codec = codecs.find((c) => c.name === name);
  if (!codec) throw new ConfigError('engine', `compression "${spec}" names codec "${name}", which is not available; use auto, none, or one of: ${codecs.map((c) => c.name).join(', ') || '(no codecs loaded)'}.`);
  let level = codec.levels.default;
  if (levelText !== undefined) {
    level = Number(levelText);
    if (!Number.isInteger(level) || level < codec.levels.min || level > codec.levels.max) {
      throw new ConfigError('engine', `compression "${spec}": level must be an integer from ${codec.levels.min} to ${codec.levels.max}.`);
    }
  }
  return { mode: 'codec', codec, level };
}

/**
 * Shannon entropy in bits per byte of a sample of the data: all of it up to 8 KiB, else 8 windows of
 * 1 KiB spread over it. Even a sample of random bytes that small measures above 7.8 bits per byte.
 */
export function sampleEntropy(data: Uint8Array): number {
  const counts = new Uint32Array(256);
  const n = data.length;
  if (n === 0) return 0;
  const win = 1024;
  const windows = 8;
  let total = 0;
  if (n <= win * windows) {
    for (let i = 0; i < n; i++) counts[data[i]]++;
    total = n;
  } else {
    const step = Math.floor((n - win) / (windows - 1));
    for (let w = 0; w < windows; w++) {
      const start = w * step;
      for (let i = start; i < start + win; i++) counts[data[i]]++;
      total += win;
    }
  }
  let h = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i];
    if (c) {
      const p = c / total;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

/**
 * zstd level of 'auto' for blobs whose sample looks incompressible: level 1 passes random data through
 * at about 1 GB/s and still finds the repeats and zero runs a byte histogram cannot see (disk images).
 */
const ZSTD_SPARSE_LEVEL = 1;

/** Above this many bits per byte a sample is treated as incompressible (random, already compressed). */
const ENTROPY_LIMIT = 7.2;

export class Box {
  readonly cipher: Cipher | null;
  readonly keys: MasterKeys;
  private readonly codecsById = new Map<number, Codec>();

  constructor(cipher: Cipher | null, keys: MasterKeys, codecs: Codec[]) {
    this.cipher = cipher;
    this.keys = keys;
    for (const c of codecs) this.codecsById.set(c.id, c);
  }

  codec(id: number): Codec | undefined {
    return this.codecsById.get(id);
  }

  /** Blob id: HMAC-SHA-256 with the repository's MAC key, or plain SHA-256 without encryption. */
  blobId(plaintext: Uint8Array): Uint8Array {
    return this.cipher ? hmacSha256(this.keys.mac, plaintext) : sha256(plaintext);
  }

  seal(plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
    return this.cipher ? this.cipher.seal(this.keys.encrypt, plaintext, ad) : plaintext;
  }

  open(sealed: Uint8Array, ad: Uint8Array, what: string): Uint8Array {
    if (!this.cipher) return sealed;
    try {
      return this.cipher.open(this.keys.encrypt, sealed, ad);
    } catch (err) {
      if (isStrataError(err)) throw corrupt(what, 'authentication failed', err);
      throw corrupt(what, 'cannot be decrypted', err);
    }
  }

  sealObject(kind: ObjectKind, plaintext: Uint8Array): Uint8Array {
    return this.seal(plaintext, AD[kind]);
  }

  openObject(kind: ObjectKind, stored: Uint8Array, what: string): Uint8Array {
    return this.open(stored, AD[kind], what);
  }

  /** Compresses per the choice and prefixes the codec id byte. */
  compress(plaintext: Uint8Array, choice: CompressionChoice): Uint8Array {
    return this.compressTo(plaintext, choice, (n) => new Uint8Array(n));
  }

  /** Payload buffer reused by encodeBlob when a cipher seals it into a new array at once. */
  private scratch = new Uint8Array(0);

  private scratchOf(n: number): Uint8Array {
    // Grown in 1 MiB steps to the largest blob seen (at most the chunker's max plus one byte).
    if (this.scratch.length < n) this.scratch = new Uint8Array(Math.ceil(n / 1048576) * 1048576);
    return this.scratch.subarray(0, n);
  }

  private compressTo(plaintext: Uint8Array, choice: CompressionChoice, alloc: (n: number) => Uint8Array): Uint8Array {
    let codec: Codec | undefined;
    let level: number | undefined;
    if (choice.mode === 'codec') {
      codec = choice.codec;
      level = choice.level;
    } else if (choice.mode === 'auto' && plaintext.length >= 64) {
      if (sampleEntropy(plaintext) < ENTROPY_LIMIT) level = choice.level;
      else level = choice.sparseLevel;
      if (level !== undefined) codec = choice.codec;
    }
    if (codec) {
      const out = codec.compress(plaintext, level);
      // Keep the raw bytes when compression does not pay.
      if (out.length + 1 < plaintext.length) {
        const r = alloc(out.length + 1);
        r[0] = codec.id;
        r.set(out, 1);
        return r;
      }
    }
    const r = alloc(plaintext.length + 1);
    r[0] = CODEC_NONE;
    r.set(plaintext, 1);
    return r;
  }

  /** Reverses compress(): reads the codec byte; unknown codec or bad data is CorruptError. */
  decompress(payload: Uint8Array, maxSize: number, what: string): Uint8Array {
    if (payload.length < 1) throw corrupt(what, 'empty payload');
    const id = payload[0];
    const body = payload.subarray(1);
    if (id === CODEC_NONE) return body;
    const codec = this.codecsById.get(id);
    if (!codec) throw new CorruptError('engine', `${what} is compressed with codec id ${id}, which is not loaded; add the codec plugin or run "strata check".`);
    try {
      return codec.decompress(body, maxSize);
    } catch (err) {
      throw corrupt(what, `codec ${codec.name} cannot decompress it`, err);
    }
  }

  /** Associated data of a blob: its type and id, so a blob cannot be swapped for another. */
  static blobAd(type: number, id: Uint8Array): Uint8Array {
    const ad = new Uint8Array(33);
    ad[0] = type;
    ad.set(id, 1);
    return ad;
  }

  encodeBlob(type: BlobType, id: Uint8Array, plaintext: Uint8Array, choice: CompressionChoice): Uint8Array {
    // A cipher's seal returns nonce || ciphertext || tag in a new array, so the payload can be scratch.
    if (this.cipher) return this.seal(this.compressTo(plaintext, choice, (n) => this.scratchOf(n)), Box.blobAd(type, id));
    return this.seal(this.compress(plaintext, choice), Box.blobAd(type, id));
  }

  /** Opens and decompresses the blob, then recomputes its id from the plaintext: CorruptError on any mismatch. */
  decodeBlob(type: number, id: Uint8Array, stored: Uint8Array, rawLength: number): Uint8Array {
    const what = `blob ${Buffer.from(id).toString('hex').slice(0, 16)}`;
    const payload = this.open(stored, Box.blobAd(type, id), what);
    const plain = this.decompress(payload, Math.max(rawLength, 0), what);
    if (plain.length !== rawLength) throw corrupt(what, `length ${plain.length} instead of ${rawLength}`);
    const actual = this.blobId(plain);
    if (!Buffer.from(actual).equals(Buffer.from(id.buffer, id.byteOffset, id.byteLength))) throw corrupt(what, 'content does not match its id');
    return plain;
  }

  /** Seals a small object (snapshot, index, lock): codec byte + body, then the cipher. */
  sealCompressed(kind: ObjectKind, plaintext: Uint8Array, choice: CompressionChoice): Uint8Array {
    return this.sealObject(kind, this.compress(plaintext, choice));
  }

  openCompressed(kind: ObjectKind, stored: Uint8Array, what: string, maxSize = 1 << 30): Uint8Array {
    return this.decompress(this.openObject(kind, stored, what), maxSize, what);
  }
}
