import type { PortableSpec } from './codec.js';

/**
 * An authenticated cipher. `seal` picks a fresh random nonce for every call and returns
 * `nonce || ciphertext || tag`; `open` checks the tag and the associated data. Any change to the
 * sealed bytes, the key or the associated data makes `open` throw CorruptError.
 * The `id` byte is stored in the repository config: 1 aes-256-gcm, 2 chacha20-poly1305.
 */
export interface Cipher {
  readonly id: number;
  /** Name used on the command line: `aes-256-gcm`, `chacha20-poly1305`. */
  readonly name: string;
  /** Key length in bytes. */
  readonly keySize: number;
  /** Bytes seal() adds to the plaintext (nonce + tag). */
  readonly overhead: number;
  readonly portable?: PortableSpec;

  seal(key: Uint8Array, plaintext: Uint8Array, associatedData?: Uint8Array): Uint8Array;
  open(key: Uint8Array, sealed: Uint8Array, associatedData?: Uint8Array): Uint8Array;
}
