/**
 * The `config` object. First byte 'S' (sealed with the master key, AD 'strata/config/v1') or
 * 'P' (plaintext, unencrypted repositories only), then JSON RepoConfig.
 */
import { corrupt, parseJsonObject } from './util.js';

export const FORMAT_VERSION = 1;
export const CONFIG_SEALED = 0x53; // 'S'
export const CONFIG_PLAIN = 0x50; // 'P'

export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
}

export interface RepoConfig {
  version: number;
  id: string;
  created: string;
  /** Cipher name and id, or null for an unencrypted repository. */
  cipher: string | null;
  cipherId: number | null;
  /** Default compression of new blobs: 'auto', 'none', 'zstd:3', ... */
  compression: string;
  packSize: number;
  chunker: ChunkerParams;
  /** 'hmac-sha256' (encrypted) or 'sha256' (unencrypted). */
  blobId: 'hmac-sha256' | 'sha256';
  /** Only in unencrypted repositories (in the master key otherwise), base64. */
  chunkerSecret?: string;
}

export function encodeConfigJson(c: RepoConfig): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c));
}

export function parseConfigJson(bytes: Uint8Array): RepoConfig {
  const o = parseJsonObject(bytes, 'config');
  const int = (v: unknown, k: string) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw corrupt('config', `field ${k} is not a positive whole number`);
    return v;
  };
  if (typeof o.version !== 'number') throw corrupt('config', 'no version');
  if (o.version > FORMAT_VERSION) throw corrupt('config', `format version ${o.version} is newer than this Strata (${FORMAT_VERSION}); upgrade Strata`);
  if (typeof o.id !== 'string' || !/^[0-9a-f]{64}$/.test(o.id)) throw corrupt('config', 'bad repository id');
  const ch = o.chunker as Record<string, unknown> | undefined;
  if (typeof ch !== 'object' || ch === null) throw corrupt('config', 'no chunker parameters');
  const chunker = { min: int(ch.min, 'chunker.min'), avg: int(ch.avg, 'chunker.avg'), max: int(ch.max, 'chunker.max') };
  if (!(chunker.min <= chunker.avg && chunker.avg <= chunker.max)) throw corrupt('config', 'chunker sizes out of order');
  const cipher = o.cipher === null ? null : typeof o.cipher === 'string' ? o.cipher : undefined;
  if (cipher === undefined) throw corrupt('config', 'bad cipher');
  const cipherId = cipher === null ? null : int(o.cipherId, 'cipherId');
  const c: RepoConfig = {
    version: o.version,
    id: o.id,
    created: typeof o.created === 'string' ? o.created : '',
    cipher,
    cipherId,
    compression: typeof o.compression === 'string' ? o.compression : 'auto',
    packSize: int(o.packSize, 'packSize'),
    chunker,
    blobId: cipher === null ? 'sha256' : 'hmac-sha256',
  };
  if (cipher === null) {
    if (typeof o.chunkerSecret !== 'string') throw corrupt('config', 'no chunker secret');
    c.chunkerSecret = o.chunkerSecret;
  }
  return c;
}
