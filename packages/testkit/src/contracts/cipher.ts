import { randomBytes } from 'node:crypto';
import type { Cipher } from '@strata/core';
import { expectCorrupt, pseudoRandomBytes, sameBytes, type CodecContractRunner } from './codec.js';

export type CipherContractRunner = CodecContractRunner;

export interface CipherContractOptions {
  /** Seals checked for a repeated nonce (default 100,000). */
  nonceSeals?: number;
  /** Timeout of the longer tests in ms (default 120,000). */
  timeout?: number;
}

/** The authentication tag length the suite assumes (AES-GCM and ChaCha20-Poly1305 both use 16). */
export const CIPHER_TAG_SIZE = 16;

/**
 * The contract every Cipher passes. Call it from the plugin's test file with vitest's functions:
 * `cipherContract({ describe, test, expect }, () => aes256gcm())`.
 *
 * Assumes the sealed layout of the Cipher contract in @strata/core: `nonce || ciphertext || tag`
 * with a 16-byte tag, so the nonce is the first `overhead - 16` bytes.
 * Checks: round trips (empty, small, 1 MiB, with and without associated data); `overhead` equals the
 * growth; every flipped bit, a wrong key, wrong or missing associated data and every truncation make
 * `open` throw CorruptError; no nonce repeats across 100,000 seals.
 */
export function cipherContract(
  runner: CipherContractRunner,
  makeCipher: () => Cipher,
  options: CipherContractOptions = {},
): void {
  const { describe, test, expect } = runner;
  const nonceSeals = options.nonceSeals ?? 100_000;
  const timeout = options.timeout ?? 120_000;
  const probe = makeCipher();
  const key = (seed: number): Uint8Array => pseudoRandomBytes(probe.keySize, seed);

  describe(`cipher contract: ${probe.name}`, () => {
    test('identity: id byte, lower-case name, key size, overhead covers a nonce and a 16-byte tag', () => {
      const cipher = makeCipher();
      expect(Number.isInteger(cipher.id), 'id is an integer').toBe(true);
      expect(cipher.id).toBeGreaterThanOrEqual(1);
      expect(cipher.id).toBeLessThanOrEqual(255);
      expect(cipher.name).toMatch(/^[a-z0-9][a-z0-9-]*$/);
      expect(Number.isInteger(cipher.keySize) && cipher.keySize >= 16).toBe(true);
      // At least 96 bits of nonce: random nonces must not collide.
      expect(cipher.overhead).toBeGreaterThanOrEqual(CIPHER_TAG_SIZE + 12);
      if (cipher.portable) {
        expect(typeof cipher.portable.module).toBe('string');
        expect(typeof cipher.portable.exportName).toBe('string');
        expect(structuredClone(cipher.portable)).toEqual(cipher.portable);
      }
    });

    test('round trip: empty, small and 1 MiB, with and without associated data; overhead is exact', () => {
      const cipher = makeCipher();
      const k = key(1);
      const ad = new TextEncoder().encode('snapshot/tree/abc');
      for (const size of [0, 1, 15, 16, 17, 64, 1000, 1024 * 1024]) {
        const plain = pseudoRandomBytes(size, size + 3);
        for (const aad of [undefined, ad, new Uint8Array(0)]) {
          const sealed = cipher.seal(k, plain, aad);
          expect(sealed.byteLength - plain.byteLength, `overhead for ${size} bytes`).toBe(cipher.overhead);
          const opened = cipher.open(k, sealed, aad);
          expect(opened.byteLength).toBe(size);
          expect(sameBytes(opened, plain), `${size} bytes round-trip`).toBe(true);
        }
        if (size >= 16) {
          // The ciphertext must not carry the plaintext in the clear.
          const sealed = cipher.seal(k, plain);
          const body = sealed.subarray(cipher.overhead - CIPHER_TAG_SIZE, sealed.byteLength - CIPHER_TAG_SIZE);
          expect(sameBytes(body, plain), 'ciphertext differs from plaintext').toBe(false);
        }
      }
    }, timeout);

    test('seal does not change its inputs, and sealing twice gives different bytes', () => {
      const cipher = makeCipher();
      const k = key(2);
      const plain = pseudoRandomBytes(100, 9);
      const copy = new Uint8Array(plain);
      const a = cipher.seal(k, plain);
      const b = cipher.seal(k, plain);
      expect(sameBytes(plain, copy)).toBe(true);
      expect(sameBytes(a, b), 'two seals of the same message differ (fresh nonce)').toBe(false);
    });

    test('every flipped bit of a sealed message fails authentication', () => {
      const cipher = makeCipher();
      const k = key(3);
      const ad = Uint8Array.of(1, 2, 3);
      const sealed = cipher.seal(k, pseudoRandomBytes(64, 4), ad);
      for (let bit = 0; bit < sealed.byteLength * 8; bit++) {
        const bad = new Uint8Array(sealed);
        bad[bit >> 3] ^= 1 << (bit & 7);
        expectCorrupt(() => cipher.open(k, bad, ad), `bit ${bit} flipped`);
      }
    }, timeout);

    test('a wrong key fails authentication', () => {
      const cipher = makeCipher();
      const sealed = cipher.seal(key(5), pseudoRandomBytes(64, 6));
      expectCorrupt(() => cipher.open(key(6), sealed), 'other key');
      const nearKey = key(5);
      nearKey[0] ^= 1;
      expectCorrupt(() => cipher.open(nearKey, sealed), 'key with one bit changed');
    });

    test('wrong or missing associated data fails authentication', () => {
      const cipher = makeCipher();
      const k = key(7);
      const enc = new TextEncoder();
      const sealed = cipher.seal(k, pseudoRandomBytes(64, 8), enc.encode('pack/0001'));
      expectCorrupt(() => cipher.open(k, sealed, enc.encode('pack/0002')), 'other associated data');
      expectCorrupt(() => cipher.open(k, sealed), 'missing associated data');
      expectCorrupt(() => cipher.open(k, sealed, enc.encode('pack/0001x')), 'longer associated data');
      const plainSealed = cipher.seal(k, pseudoRandomBytes(64, 8));
      expectCorrupt(() => cipher.open(k, plainSealed, enc.encode('x')), 'associated data added');
    });

    test('every truncation fails (short input never throws a raw library error)', () => {
      const cipher = makeCipher();
      const k = key(9);
      for (const size of [0, 64]) {
        const sealed = cipher.seal(k, pseudoRandomBytes(size, 10));
        for (let len = 0; len < sealed.byteLength; len++) {
          expectCorrupt(() => cipher.open(k, sealed.subarray(0, len)), `${size}-byte message cut to ${len}`);
        }
      }
    });

    test('open reads a sealed message that sits at an offset inside a larger buffer', () => {
      const cipher = makeCipher();
      const k = key(11);
      const plain = pseudoRandomBytes(300, 12);
      const sealed = cipher.seal(k, plain);
      const pack = new Uint8Array(sealed.byteLength + 40);
      pack.set(sealed, 17);
      const opened = cipher.open(k, pack.subarray(17, 17 + sealed.byteLength));
      expect(sameBytes(opened, plain)).toBe(true);
    });

    test(`no nonce repeats across ${nonceSeals.toLocaleString('en-US')} seals`, () => {
      const cipher = makeCipher();
      const k = randomBytes(cipher.keySize);
      const nonceSize = cipher.overhead - CIPHER_TAG_SIZE;
      const plain = Uint8Array.of(42);
      const seen = new Set<string>();
      for (let i = 0; i < nonceSeals; i++) {
        const sealed = cipher.seal(k, plain);
        seen.add(Buffer.from(sealed.buffer, sealed.byteOffset, nonceSize).toString('latin1'));
      }
      expect(seen.size, 'distinct nonces').toBe(nonceSeals);
    }, timeout);
  });
}
