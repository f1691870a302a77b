import type { Cipher, CipherDescriptor } from '@strata/core';
import { nodeAeadCipher } from '@strata/core/aead';

/** Options of {@link chacha20poly1305}. There are none yet; the object keeps the factory signature stable. */
export interface ChaCha20Poly1305Options {}

/**
 * ChaCha20-Poly1305 (RFC 8439) on node:crypto: fast without AES hardware. Sealed layout: `nonce (12) || ciphertext || tag (16)`; every seal draws a fresh
 * random nonce, so one key may seal about 2^32 messages before the nonce collision risk matters.
 */
export function chacha20poly1305(options: ChaCha20Poly1305Options = {}): Cipher {
  return nodeAeadCipher({
    id: 2,
    algorithm: 'chacha20-poly1305',
    portable: { module: import.meta.url, exportName: 'chacha20poly1305', args: [options] },
  });
}

/** What the apps load: `plugins` lists this package's cipher. */
export const plugins: CipherDescriptor[] = [
  { kind: 'cipher', name: 'chacha20-poly1305', create: () => chacha20poly1305() },
];
