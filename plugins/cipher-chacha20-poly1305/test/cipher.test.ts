import { describe, expect, test } from 'vitest';
import { createCipheriv, randomBytes } from 'node:crypto';
import { hasCode } from '@strata/core';
import { cipherContract } from '@strata/testkit';
import { chacha20poly1305, plugins } from '../src/index.js';

cipherContract({ describe, test, expect }, () => chacha20poly1305());

describe('chacha20-poly1305', () => {
  test('sealed bytes are standard ChaCha20-Poly1305 (RFC 8439): nonce || ciphertext || tag', () => {
    const key = randomBytes(32);
    const plain = Buffer.from('interoperable with any RFC 8439 implementation');
    const sealed = Buffer.from(chacha20poly1305().seal(key, plain, Buffer.from('ad')));
    const nonce = sealed.subarray(0, 12);
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    c.setAAD(Buffer.from('ad'), { plaintextLength: plain.byteLength });
    const expected = Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]);
    expect(sealed.equals(expected)).toBe(true);
  });

  test('a key of the wrong size is an invalid argument, not corruption', () => {
    const cipher = chacha20poly1305();
    let err: unknown;
    try {
      cipher.seal(randomBytes(16), Buffer.from('x'));
    } catch (e) {
      err = e;
    }
    expect(hasCode(err, 'INVALID_ARGUMENT')).toBe(true);
  });

  test('id, descriptor and portable spec', async () => {
    const cipher = chacha20poly1305();
    expect(cipher.id).toBe(2);
    expect(cipher.name).toBe('chacha20-poly1305');
    expect(plugins).toHaveLength(1);
    expect(plugins[0].kind).toBe('cipher');
    expect(plugins[0].create().name).toBe('chacha20-poly1305');
    const spec = cipher.portable!;
    const rebuilt = (await import(spec.module))[spec.exportName](...(spec.args ?? []));
    const key = randomBytes(32);
    expect(Buffer.from(rebuilt.open(key, cipher.seal(key, Buffer.from('worker')))).toString()).toBe('worker');
  });
});
