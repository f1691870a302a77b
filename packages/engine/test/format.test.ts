import { randomBytes } from 'node:crypto';
import { CorruptError } from '@strata/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { AD, BLOB_DATA, BLOB_TREE, Box, parseCompression } from '../src/format/box.js';
import { createKeyFile, newMasterKeys, openKeyFile, parseKeyFile } from '../src/format/keys.js';
import { type PackEntry, decodeIndex, decodePackHeader, encodeIndex, encodePackHeader, splitPackTail } from '../src/format/pack.js';
import { type TreeNode, decodeTree, encodeTree } from '../src/format/tree.js';
import { parseConfigJson } from '../src/format/config.js';
import { ciphers, codecs, KDF } from './helpers.js';

const id = fc.uint8Array({ minLength: 32, maxLength: 32 });
const entry: fc.Arbitrary<PackEntry> = fc.record({
  type: fc.constantFrom(0, 1),
  id,
  offset: fc.nat({ max: 1_000_000 }),
  length: fc.nat({ max: 1_000_000 }),
  rawLength: fc.nat({ max: 0xffffffff }),
});

/** Calls fn on garbage: it must return or throw CorruptError, nothing else. */
function onlyCorrupt(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof CorruptError)) throw err;
  }
}

describe('pack header and index encodings', () => {
  test('pack headers round-trip', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 50 }), (entries) => {
        const enc = encodePackHeader(entries);
        expect(decodePackHeader(enc, 2_000_000)).toEqual(entries);
      }),
    );
  });

  test('index files round-trip', () => {
    fc.assert(
      fc.property(fc.array(id, { maxLength: 3 }), fc.array(fc.record({ id, blobs: fc.array(entry, { maxLength: 20 }) }), { maxLength: 10 }), (supersedes, packs) => {
        expect(decodeIndex(encodeIndex({ supersedes, packs }))).toEqual({ supersedes, packs });
      }),
    );
  });

  test('random bytes give CorruptError, never a crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat({ max: 10_000 }), (bytes, size) => {
        onlyCorrupt(() => decodePackHeader(bytes, size));
        onlyCorrupt(() => decodeIndex(bytes));
        onlyCorrupt(() => splitPackTail(bytes, size));
      }),
      { numRuns: 2000 },
    );
  });

  test('a flipped byte in an encoded index is CorruptError or a different value', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ id, blobs: fc.array(entry, { minLength: 1, maxLength: 5 }) }), { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (packs, pos, x) => {
        const enc = encodeIndex({ supersedes: [], packs });
        const i = pos % enc.length;
        enc[i] ^= x;
        onlyCorrupt(() => expect(decodeIndex(enc)).not.toEqual({ supersedes: [], packs }));
      }),
    );
  });
});

const nameBytes = fc.uint8Array({ minLength: 1, maxLength: 40 }).filter((b) => !b.includes(0x2f) && !b.includes(0) && !(b.length <= 2 && b.every((c) => c === 0x2e)));
const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const node: fc.Arbitrary<TreeNode> = fc
  .record({
    name: nameBytes,
    type: fc.constantFrom('file', 'dir', 'symlink', 'fifo', 'chardev') as fc.Arbitrary<TreeNode['type']>,
    mode: fc.nat({ max: 0o7777 }),
    uid: fc.nat({ max: 2 ** 31 }),
    gid: fc.nat({ max: 2 ** 31 }),
    mtimeNs: fc.bigInt({ min: -(2n ** 62n), max: 2n ** 63n }),
    ctimeNs: fc.bigInt({ min: 0n, max: 2n ** 63n }),
    size: fc.nat(),
    inode: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    device: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    nlink: fc.nat({ max: 1000 }),
    content: fc.array(hexId, { maxLength: 4 }),
    subtree: hexId,
    sha256: hexId,
    linkTarget: fc.uint8Array({ maxLength: 60 }),
    user: fc.option(fc.string(), { nil: undefined }),
    inconsistent: fc.boolean(),
  })
  .map((r) => {
    const n: TreeNode = { name: r.name, type: r.type, mode: r.mode, uid: r.uid, gid: r.gid, mtimeNs: r.mtimeNs, ctimeNs: r.ctimeNs, size: r.size, inode: r.inode, device: r.device, nlink: r.nlink };
    if (r.user !== undefined) n.user = r.user;
    if (r.type === 'file') {
      n.content = r.content;
      n.sha256 = r.sha256;
      if (r.inconsistent) n.inconsistent = true;
    }
    if (r.type === 'dir') n.subtree = r.subtree;
    if (r.type === 'symlink') n.linkTarget = r.linkTarget;
    if (r.type === 'chardev') n.rdev = r.inode;
    return n;
  });

describe('tree encoding', () => {
  test('trees round-trip exactly, names as bytes, and encode canonically', () => {
    fc.assert(
      fc.property(fc.uniqueArray(node, { selector: (n) => Buffer.from(n.name).toString('latin1'), maxLength: 12 }), (nodes) => {
        const enc = encodeTree(nodes);
        const dec = decodeTree(enc);
        const sorted = [...nodes].sort((a, b) => Buffer.compare(a.name, b.name));
        expect(dec.map((n) => ({ ...n, name: Buffer.from(n.name), linkTarget: n.linkTarget && Buffer.from(n.linkTarget) }))).toEqual(
          sorted.map((n) => ({ ...n, name: Buffer.from(n.name), linkTarget: n.linkTarget && Buffer.from(n.linkTarget) })),
        );
        // Order of input does not matter: the same bytes.
        expect(Buffer.from(encodeTree([...nodes].reverse())).equals(Buffer.from(enc))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test('random bytes and random JSON give CorruptError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.json().map((j) => new TextEncoder().encode(j)), fc.anything().map((v) => new TextEncoder().encode(JSON.stringify({ nodes: [v] }) ?? ''))), (bytes) => {
        onlyCorrupt(() => decodeTree(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  test('names that escape the directory are refused', () => {
    for (const name of ['..', '.', 'a/b', '']) {
      const enc = new TextEncoder().encode(JSON.stringify({ nodes: [{ name, type: 'fifo', mode: 0, uid: 0, gid: 0, mtimeNs: '0', ctimeNs: '0', size: 0, inode: '0', device: '0', nlink: 1 }] }));
      expect(() => decodeTree(enc)).toThrow(CorruptError);
    }
  });
});

describe('keys, config and blobs', () => {
  const cipher = ciphers()[0];

  test('a key file opens with its password only; damaged key files are CorruptError or refused', async () => {
    const master = newMasterKeys(32);
    const file = await createKeyFile('pw', master, cipher, KDF);
    const parsed = parseKeyFile(file);
    expect(await openKeyFile(parsed, 'pw', cipher)).toEqual(master);
    expect(await openKeyFile(parsed, 'wrong', cipher)).toBeUndefined();
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), async (pos, x) => {
        const bad = new Uint8Array(file);
        bad[pos % bad.length] ^= x;
        let k;
        try {
          k = parseKeyFile(bad);
        } catch (err) {
          expect(err).toBeInstanceOf(CorruptError);
          return;
        }
        const opened = await openKeyFile(k, 'pw', cipher).catch((err) => {
          // A damaged scrypt parameter can make scrypt refuse: an error, never a crash.
          expect((err as Error).message).toMatch(/scrypt|engine/);
          return undefined;
        });
        if (opened) expect(opened).toEqual(master);
      }),
      { numRuns: 40 },
    );
  });

  test('random bytes are never a key file or a config', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.json().map((j) => new TextEncoder().encode(j))), (bytes) => {
        onlyCorrupt(() => parseKeyFile(bytes));
        onlyCorrupt(() => parseConfigJson(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  test('blobs round-trip; a blob cannot be swapped, damaged or retyped', () => {
    const box = new Box(cipher, newMasterKeys(32), codecs());
    const choice = parseCompression('auto', codecs());
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.uint8Array({ maxLength: 100 }), fc.nat(), (data, other, pos) => {
        const bid = box.blobId(data);
        const sealed = box.encodeBlob(BLOB_DATA, bid, data, choice);
        expect(Buffer.from(box.decodeBlob(BLOB_DATA, bid, sealed, data.length)).equals(Buffer.from(data))).toBe(true);
        expect(() => box.decodeBlob(BLOB_TREE, bid, sealed, data.length)).toThrow(CorruptError);
        const oid = box.blobId(other);
        if (!Buffer.from(oid).equals(Buffer.from(bid))) expect(() => box.decodeBlob(BLOB_DATA, oid, sealed, data.length)).toThrow(CorruptError);
        const bad = new Uint8Array(sealed);
        bad[pos % bad.length] ^= 1;
        expect(() => box.decodeBlob(BLOB_DATA, bid, bad, data.length)).toThrow(CorruptError);
      }),
      { numRuns: 300 },
    );
  });

  test('without encryption, damage is still caught by the id', () => {
    const box = new Box(null, newMasterKeys(32), codecs());
    const choice = parseCompression('zstd', codecs());
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (data, pos, x) => {
        const bid = box.blobId(data);
        const sealed = box.encodeBlob(BLOB_DATA, bid, data, choice);
        const bad = new Uint8Array(sealed);
        bad[pos % bad.length] ^= x;
        onlyCorrupt(() => {
          box.decodeBlob(BLOB_DATA, bid, bad, data.length);
          throw new Error('damage not detected');
        });
      }),
      { numRuns: 300 },
    );
  });

  test('sealed objects are bound to their kind', () => {
    const box = new Box(cipher, newMasterKeys(32), codecs());
    const s = box.sealObject('snapshot', randomBytes(40));
    expect(() => box.openObject('index', s, 'x')).toThrow(CorruptError);
    expect(AD.snapshot).not.toEqual(AD.index);
  });
});
