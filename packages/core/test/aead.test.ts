import { createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { nodeAeadCipher, type NodeAeadAlgorithm } from '../src/aead.js';

describe.each<NodeAeadAlgorithm>(['aes-256-gcm', 'chacha20-poly1305'])('nodeAeadCipher %s', (algorithm) => {
  const cipher = nodeAeadCipher({ id: 9, algorithm, portable: { module: 'm', exportName: 'f' } });
  const key = randomBytes(32);
  const ad = Buffer.from('ad');

  test('seals nonce || ciphertext || tag that node:crypto opens, and opens its own output', () => {
    const plain = Buffer.from('the same layout for both algorithms');
    const sealed = Buffer.from(cipher.seal(key, plain, ad));
    expect(sealed.byteLength).toBe(plain.byteLength + cipher.overhead);
    const d = createDecipheriv(algorithm as 'aes-256-gcm', key, sealed.subarray(0, 12), { authTagLength: 16 });
    d.setAuthTag(sealed.subarray(sealed.byteLength - 16));
    d.setAAD(ad, { plaintextLength: plain.byteLength });
    expect(Buffer.concat([d.update(sealed.subarray(12, sealed.byteLength - 16)), d.final()])).toEqual(plain);
    expect(Buffer.from(cipher.open(key, sealed, ad))).toEqual(plain);
    expect(cipher.name).toBe(algorithm);
  });

  test('damage, a short input and a wrong key size are typed errors naming the algorithm', () => {
    const sealed = Buffer.from(cipher.seal(key, Buffer.from('x'), ad));
    sealed[12] ^= 1;
    expect(() => cipher.open(key, sealed, ad)).toThrow(expect.objectContaining({ code: 'CORRUPT', component: algorithm }));
    expect(() => cipher.open(key, sealed.subarray(0, 27), ad)).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
    expect(() => cipher.seal(key.subarray(0, 16), Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
