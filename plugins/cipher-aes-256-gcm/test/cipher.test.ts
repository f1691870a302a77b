import { describe, expect, test } from 'vitest';
import { createCipheriv, randomBytes } from 'node:crypto';
import { hasCode } from '@strata/core';
import { cipherContract } from '@strata/testkit';
import { aes256gcm, plugins } from '../src/index.js';

cipherContract({ describe, test, expect }, () => aes256gcm());

describe('aes-256-gcm', () => {
  test('sealed bytes are standard AES-256-GCM: nonce || ciphertext || tag', () => {
    const key = randomBytes(32);
    const plain = Buffer.from('interoperable with any AES-GCM implementation');
    const sealed = Buffer.from(aes256gcm().seal(key, plain, Buffer.from('ad')));
    const nonce = sealed.subarray(0, 12);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(Buffer.from('ad'), { plaintextLength: plain.byteLength });
    const expected = Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]);
    expect(sealed.equals(expected)).toBe(true);
  });

  test('a key of the wrong size is an invalid argument, not corruption', () => {
    const cipher = aes256gcm();
    let err: unknown;
    try {
      cipher.seal(randomBytes(16), Buffer.from('x'));
    } catch (e) {
      err = e;
    }
    expect(hasCode(err, 'INVALID_ARGUMENT')).toBe(true);
  });

  test('id, descriptor and portable spec', async () => {
    const cipher = aes256gcm();
    expect(cipher.id).toBe(1);
    expect(cipher.name).toBe('aes-256-gcm');
    expect(plugins).toHaveLength(1);
    expect(plugins[0].kind).toBe('cipher');
    expect(plugins[0].create().name).toBe('aes-256-gcm');
    const spec = cipher.portable!;
    const rebuilt = (await import(spec.module))[spec.exportName](...(spec.args ?? []));
    const key = randomBytes(32);
    expect(Buffer.from(rebuilt.open(key, cipher.seal(key, Buffer.from('worker')))).toString()).toBe('worker');
  });
});
