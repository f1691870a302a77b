import {
  createCipheriv,
  createDecipheriv,
  randomFillSync,
  type CipherChaCha20Poly1305,
  type CipherGCM,
  type DecipherChaCha20Poly1305,
  type DecipherGCM,
} from 'node:crypto';
import type { Cipher } from './cipher.js';
import type { PortableSpec } from './codec.js';
import { CorruptError, InvalidArgumentError } from './errors.js';

// A separate entry point (`@strata/core/aead`): importing `@strata/core` must not load node:crypto,
// which would slow down every start of the CLI.

/** The AEADs of node:crypto that share Strata's sealed layout (32-byte key, 12-byte nonce, 16-byte tag). */
export type NodeAeadAlgorithm = 'aes-256-gcm' | 'chacha20-poly1305';

export interface NodeAeadSpec {
  /** The cipher id stored in the repository config. */
  id: number;
  /** The node:crypto algorithm; also the cipher's name and the component named in its errors. */
  algorithm: NodeAeadAlgorithm;
  /** How a worker thread re-creates the cipher (the plugin's module and factory). */
  portable: PortableSpec;
}

const KEY_SIZE = 32;
const NONCE_SIZE = 12;
const TAG_SIZE = 16;

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

// One call per algorithm so each meets its typed node:crypto overload.
function encryptor(algorithm: NodeAeadAlgorithm, key: Uint8Array, nonce: Uint8Array): CipherGCM | CipherChaCha20Poly1305 {
  return algorithm === 'aes-256-gcm'
    ? createCipheriv(algorithm, key, nonce, { authTagLength: TAG_SIZE })
    : createCipheriv(algorithm, key, nonce, { authTagLength: TAG_SIZE });
}

function decryptor(algorithm: NodeAeadAlgorithm, key: Uint8Array, nonce: Uint8Array): DecipherGCM | DecipherChaCha20Poly1305 {
  return algorithm === 'aes-256-gcm'
    ? createDecipheriv(algorithm, key, nonce, { authTagLength: TAG_SIZE })
    : createDecipheriv(algorithm, key, nonce, { authTagLength: TAG_SIZE });
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A Cipher on one of node:crypto's AEADs. Sealed layout: `nonce (12) || ciphertext || tag (16)`;
 * every seal draws a fresh random nonce. `open` turns every failure (tag, key, associated data,
 * short input) into CorruptError; a key that is not 32 bytes is InvalidArgumentError.
 */
export function nodeAeadCipher(spec: NodeAeadSpec): Cipher {
  const { algorithm } = spec;
  const component = algorithm;

  function checkKey(key: Uint8Array): void {
    if (!(key instanceof Uint8Array) || key.byteLength !== KEY_SIZE) {
      throw new InvalidArgumentError(component, `the key must be ${KEY_SIZE} bytes, got ${key?.byteLength ?? typeof key}; pass the repository's data key.`);
    }
  }

  return {
    id: spec.id,
    name: algorithm,
    keySize: KEY_SIZE,
    overhead: NONCE_SIZE + TAG_SIZE,
    portable: spec.portable,

    seal(key: Uint8Array, plaintext: Uint8Array, associatedData?: Uint8Array): Uint8Array {
      checkKey(key);
      const out = Buffer.allocUnsafe(NONCE_SIZE + plaintext.byteLength + TAG_SIZE);
      const nonce = out.subarray(0, NONCE_SIZE);
      takeNonce(nonce);
      const cipher = encryptor(algorithm, key, nonce);
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
        throw new CorruptError(component, `sealed data is ${sealed.byteLength} bytes, shorter than nonce and tag (${NONCE_SIZE + TAG_SIZE}); the blob is truncated, run a repository check.`);
      }
      const input = asBuffer(sealed);
      const end = input.byteLength - TAG_SIZE;
      try {
        const decipher = decryptor(algorithm, key, input.subarray(0, NONCE_SIZE));
        decipher.setAuthTag(input.subarray(end));
        if (associatedData) decipher.setAAD(associatedData, { plaintextLength: end - NONCE_SIZE });
        const body = decipher.update(input.subarray(NONCE_SIZE, end));
        const rest = decipher.final();
        return rest.byteLength === 0 ? body : Buffer.concat([body, rest]);
      } catch (cause) {
        throw new CorruptError(component, 'authentication failed: the data, the key or the associated data is wrong; run a repository check.', { cause });
      }
    },
  };
}
