import { createHash, createHmac } from 'node:crypto';
import { CorruptError } from '@strata/core';

export const ID_SIZE = 32;

export function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return createHmac('sha256', key).update(data).digest();
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

const HEX_ID = /^[0-9a-f]{64}$/;

export function isHexId(s: string): boolean {
  return HEX_ID.test(s);
}

export function fromHexId(s: string, what = 'id'): Uint8Array {
  if (!isHexId(s)) throw new CorruptError('engine', `${what} "${s.slice(0, 80)}" is not a 64-digit hex id; the repository metadata is damaged.`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export function utf8(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'utf8'));
}

export function corrupt(what: string, detail: string, cause?: unknown): CorruptError {
  return new CorruptError('engine', `${what} is damaged (${detail}); run "strata check" and restore it from another copy.`, cause === undefined ? undefined : { cause });
}

/** Parses JSON bytes into an object, throwing CorruptError on anything else. */
export function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw corrupt(what, 'not valid JSON', err);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt(what, 'not a JSON object');
  return v as Record<string, unknown>;
}

/** Object keys of the repository layout. */
export const keys = {
  config: 'config',
  key: (id: string) => `keys/${id}`,
  pack: (id: string) => `data/${id.slice(0, 2)}/${id}`,
  index: (id: string) => `index/${id}`,
  snapshot: (id: string) => `snapshots/${id}`,
  lock: (id: string) => `locks/${id}`,
};

/** The last path element of a store key. */
export function baseName(key: string): string {
  const i = key.lastIndexOf('/');
  return i < 0 ? key : key.slice(i + 1);
}
