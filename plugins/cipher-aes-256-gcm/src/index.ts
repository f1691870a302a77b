import { createCipheriv, createDecipheriv, randomFillSync, type CipherGCMTypes } from 'node:crypto';
import { CorruptError, InvalidArgumentError, type Cipher, type CipherDescriptor } from '@strata/core';

const COMPONENT = 'aes-256-gcm';
const ALGORITHM: CipherGCMTypes = 'aes-256-gcm';
const KEY_SIZE = 32;
const NONCE_SIZE = 12;
const TAG_SIZE = 16;

/** Options of {@link aes256gcm}. There are none yet; the object keeps the factory signature stable. */
export interface Aes256GcmOptions {}

// Nonces come from a pooled random buffer: one randomFillSync per 341 seals instead of one per seal.
const POOL_SIZE = NONCE_SIZE * 341;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolPos = POOL_SIZE;

function takeNonce(target: Buffer): void {
  if (poolPos + NONCE_SIZE > POOL_SIZE) {
    randomFillSync(pool);
    poolPos = 0;
  }
  pool.copy(target, 0, poolPos, poolPos + NONCE_SIZE);
  // Clear the used bytes so a nonce never stays in memory to be handed out twice.
  pool.fill(0, poolPos, poolPos + NONCE_SIZE);
  poolPos += NONCE_SIZE;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.byteLength !== KEY_SIZE) {
    throw new InvalidArgumentError(COMPONENT, `the key must be ${KEY_SIZE} bytes, got ${key?.byteLength ?? typeof key}; pass the repository's data key.`);
  }
}

/**
 * AES-256-GCM on node:crypto (hardware AES where the CPU has it). Sealed layout: `nonce (12) || ciphertext || tag (16)`; every seal draws a fresh
 * random nonce, so one key may seal about 2^32 messages before the nonce collision risk matters.
 */
export function aes256gcm(options: Aes256GcmOptions = {}): Cipher {
  return {
    id: 1,
    name: 'aes-256-gcm',
    keySize: KEY_SIZE,
    overhead: NONCE_SIZE + TAG_SIZE,
    portable: { module: import.meta.url, exportName: 'aes256gcm', args: [options] },

    seal(key: Uint8Array, plaintext: Uint8Array, associatedData?: Uint8Array): Uint8Array {
      checkKey(key);
      const out = Buffer.allocUnsafe(NONCE_SIZE + plaintext.byteLength + TAG_SIZE);
      const nonce = out.subarray(0, NONCE_SIZE);
      takeNonce(nonce);
      const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_SIZE });
      if (associatedData) cipher.setAAD(associatedData, { plaintextLength: plaintext.byteLength });
      const body = cipher.update(plaintext);
      const rest = cipher.final();
      body.copy(out, NONCE_SIZE);
      rest.copy(out, NONCE_SIZE + body.byteLength);
      cipher.getAuthTag().copy(out, NONCE_SIZE + plaintext.byteLength);
      return out;
    },

    open(key: Uint8Array, sealed: Uint8Array, associatedData?: Uint8Array): Uint8Array {
      checkKey(key);
      if (sealed.byteLength < NONCE_SIZE + TAG_SIZE) {
        throw new CorruptError(COMPONENT, `sealed data is ${sealed.byteLength} bytes, shorter than nonce and tag (${NONCE_SIZE + TAG_SIZE}); the blob is truncated, run a repository check.`);
      }
      const input = asBuffer(sealed);
      const end = input.byteLength - TAG_SIZE;
      try {
        const decipher = createDecipheriv(ALGORITHM, key, input.subarray(0, NONCE_SIZE), { authTagLength: TAG_SIZE });
        decipher.setAuthTag(input.subarray(end));
        if (associatedData) decipher.setAAD(associatedData, { plaintextLength: end - NONCE_SIZE });
        const body = decipher.update(input.subarray(NONCE_SIZE, end));
        const rest = decipher.final();
        return rest.byteLength === 0 ? body : Buffer.concat([body, rest]);
      } catch (cause) {
        throw new CorruptError(COMPONENT, 'authentication failed: the data, the key or the associated data is wrong; run a repository check.', { cause });
      }
    },
  };
}

/** What the apps load: `plugins` lists this package's cipher. */
export const plugins: CipherDescriptor[] = [
  { kind: 'cipher', name: 'aes-256-gcm', create: () => aes256gcm() },
];
