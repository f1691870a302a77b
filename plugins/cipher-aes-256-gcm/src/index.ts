import type { Cipher, CipherDescriptor } from '@strata/core';
import { nodeAeadCipher } from '@strata/core/aead';

/** Options of {@link aes256gcm}. There are none yet; the object keeps the factory signature stable. */
export interface Aes256GcmOptions {}

/**
 * AES-256-GCM on node:crypto (hardware AES where the CPU has it). Sealed layout: `nonce (12) || ciphertext || tag (16)`; every seal draws a fresh
 * random nonce, so one key may seal about 2^32 messages before the nonce collision risk matters.
 */
export function aes256gcm(options: Aes256GcmOptions = {}): Cipher {
  return nodeAeadCipher({
    id: 1,
    algorithm: 'aes-256-gcm',
    portable: { module: import.meta.url, exportName: 'aes256gcm', args: [options] },
  });
}

/** What the apps load: `plugins` lists this package's cipher. */
export const plugins: CipherDescriptor[] = [
  { kind: 'cipher', name: 'aes-256-gcm', create: () => aes256gcm() },
];
