/**
 * Key files (keys/<id>): the master keys wrapped by a key derived from a password with scrypt.
 * JSON: {version, created, host, username, kdf:'scrypt', N, r, p, salt, cipher, cipherId, data}
 * where data = base64(cipher.seal(scrypt(password, salt), masterJSON, 'strata/key/v1')).
 */
import { randomBytes, scrypt } from 'node:crypto';
import os from 'node:os';
import type { Cipher } from '@strata/core';
import { CorruptError, InvalidArgumentError, isStrataError } from '@strata/core';
import { AD, type MasterKeys } from './box.js';
import { corrupt, parseJsonObject } from './util.js';

export const KEY_VERSION = 1;

export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_KDF: KdfParams = { N: 2 ** 15, r: 8, p: 1 };

export interface KeyFile {
  version: number;
  created: string;
  host: string;
  username: string;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  cipher: string;
  cipherId: number;
  data: string;
}

export function deriveKey(password: string, salt: Uint8Array, kdf: KdfParams, length: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r * kdf.p + 32 * 1024 * 1024 }, (err, key) => {
      if (err) reject(new InvalidArgumentError('engine', `scrypt with N=${kdf.N} r=${kdf.r} p=${kdf.p} failed: ${err.message}; use N a power of two >= 2.`, { cause: err }));
      else resolve(new Uint8Array(key));
    });
  });
}

export function encodeMaster(m: MasterKeys): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    encrypt: Buffer.from(m.encrypt).toString('base64'),
    mac: Buffer.from(m.mac).toString('base64'),
    chunker: Buffer.from(m.chunker).toString('base64'),
  }));
}

function b64(v: unknown, what: string, len?: number): Uint8Array {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw corrupt(what, 'a field is not base64');
  const b = new Uint8Array(Buffer.from(v, 'base64'));
  if (len !== undefined && b.length !== len) throw corrupt(what, `a key has ${b.length} bytes instead of ${len}`);
  return b;
}

export function decodeMaster(bytes: Uint8Array, keySize: number): MasterKeys {
  const o = parseJsonObject(bytes, 'master key');
  return { encrypt: b64(o.encrypt, 'master key', keySize), mac: b64(o.mac, 'master key', 32), chunker: b64(o.chunker, 'master key', 32) };
}

export function newMasterKeys(keySize: number): MasterKeys {
  return { encrypt: new Uint8Array(randomBytes(keySize)), mac: new Uint8Array(randomBytes(32)), chunker: new Uint8Array(randomBytes(32)) };
}

export async function createKeyFile(password: string, master: MasterKeys, cipher: Cipher, kdf: KdfParams, username = currentUser()): Promise<Uint8Array> {
  const salt = new Uint8Array(randomBytes(32));
  const wrap = await deriveKey(password, salt, kdf, cipher.keySize);
  const data = cipher.seal(wrap, encodeMaster(master), AD.key);
  const file: KeyFile = {
    version: KEY_VERSION,
    created: new Date().toISOString(),
    host: os.hostname(),
    username,
    kdf: 'scrypt',
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    salt: Buffer.from(salt).toString('base64'),
    cipher: cipher.name,
    cipherId: cipher.id,
    data: Buffer.from(data).toString('base64'),
  };
  return new TextEncoder().encode(JSON.stringify(file));
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n >= 2 && (n & (n - 1)) === 0;
}

/** Parses and validates a key file's JSON; CorruptError when it is not one. */
export function parseKeyFile(bytes: Uint8Array): KeyFile {
  const o = parseJsonObject(bytes, 'key file');
  const num = (k: string) => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw corrupt('key file', `field ${k} is not a whole number`);
    return v;
  };
  const str = (k: string) => {
    const v = o[k];
    if (typeof v !== 'string') throw corrupt('key file', `field ${k} is not text`);
    return v;
  };
  if (o.version !== KEY_VERSION) throw corrupt('key file', `version ${String(o.version)} is not supported`);
  if (o.kdf !== 'scrypt') throw corrupt('key file', `kdf ${String(o.kdf)} is not supported`);
  const N = num('N'), r = num('r'), p = num('p');
  if (!isPow2(N) || N > 2 ** 24 || r < 1 || r > 64 || p < 1 || p > 16) throw corrupt('key file', 'scrypt parameters are out of range');
  const file: KeyFile = {
    version: KEY_VERSION, created: str('created'), host: str('host'), username: str('username'), kdf: 'scrypt', N, r, p,
    salt: str('salt'), cipher: str('cipher'), cipherId: num('cipherId'), data: str('data'),
  };
  b64(file.salt, 'key file');
  b64(file.data, 'key file');
  return file;
}

/**
 * Opens a key file with a password. Returns undefined when the password does not open it (a
 * CorruptError from the cipher means a wrong password for this key).
 */
export async function openKeyFile(file: KeyFile, password: string, cipher: Cipher): Promise<MasterKeys | undefined> {
  const wrap = await deriveKey(password, b64(file.salt, 'key file'), file, cipher.keySize);
  let plain: Uint8Array;
  try {
    plain = cipher.open(wrap, b64(file.data, 'key file'), AD.key);
  } catch (err) {
    if (isStrataError(err) || err instanceof Error) return undefined;
    throw err;
  }
  try {
    return decodeMaster(plain, cipher.keySize);
  } catch (err) {
    if (err instanceof CorruptError) return undefined;
    throw err;
  }
}

export function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}
