import { describe, expect, test } from 'vitest';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync, type ZlibOptions } from 'node:zlib';
import { CorruptError, type Cipher, type Codec } from '@strata/core';
import { cipherContract, codecContract, type CodecContractRunner } from '@strata/testkit';
import { collectingRunner, named } from './collect-runner.js';

// Reference plugins written from the contracts alone, with switchable flaws, so testkit can check
// that its codec and cipher suites pass a correct plugin and catch each flaw.

type CodecFlaw = 'ignores-max-size' | 'ignores-trailing-bytes' | 'raw-errors' | 'empty-output' | 'drops-last-byte';

// Format: "STRZ" || u32 size || raw deflate || first 4 bytes of SHA-256(original).
function referenceCodec(flaw?: CodecFlaw): Codec {
  const fail = (message: string, cause?: unknown): Error =>
    flaw === 'raw-errors' ? new Error(message) : new CorruptError('reference', message, { cause });
  return {
    id: 200,
    name: 'reference',
    levels: { min: 1, max: 9, default: 1 },
    compress(data, level) {
      const l = Math.min(9, Math.max(1, Math.round(level ?? 1)));
      if (flaw === 'empty-output' && data.byteLength === 0) return new Uint8Array(0);
      const body = deflateRawSync(data, { level: l });
      const out = Buffer.alloc(8 + body.byteLength + 4);
      out.write('STRZ', 0, 'latin1');
      out.writeUInt32LE(data.byteLength, 4);
      body.copy(out, 8);
      createHash('sha256').update(data).digest().copy(out, 8 + body.byteLength, 0, 4);
      return out;
    },
    decompress(input, maxSize) {
      const data = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
      if (flaw === 'empty-output' && data.byteLength === 0) return new Uint8Array(0);
      if (data.byteLength < 12 || data.toString('latin1', 0, 4) !== 'STRZ') throw fail('not a reference stream');
      const size = data.readUInt32LE(4);
      if (flaw !== 'ignores-max-size' && maxSize !== undefined && size > maxSize) throw fail('too large');
      const body = data.subarray(8, data.byteLength - 4);
      let result: { buffer: Buffer; engine: { bytesWritten: number } };
      try {
        const options = { info: true, maxOutputLength: Math.max(1, size) } as ZlibOptions;
        result = inflateRawSync(body, options) as unknown as typeof result;
      } catch (cause) {
        throw fail('bad deflate data', cause);
      }
      if (result.buffer.byteLength !== size) throw fail('size mismatch');
      if (flaw !== 'ignores-trailing-bytes' && result.engine.bytesWritten !== body.byteLength) throw fail('trailing bytes');
      const digest = createHash('sha256').update(result.buffer).digest().subarray(0, 4);
      if (flaw !== 'ignores-trailing-bytes' && !digest.equals(data.subarray(data.byteLength - 4))) throw fail('checksum mismatch');
      return flaw === 'drops-last-byte' && size > 0 ? result.buffer.subarray(0, size - 1) : result.buffer;
    },
  };
}

type CipherFlaw = 'fixed-nonce' | 'ignores-associated-data' | 'raw-errors' | 'wrong-overhead';

function referenceCipher(flaw?: CipherFlaw): Cipher {
  const fixed = randomBytes(12);
  return {
    id: 200,
    name: 'reference-gcm',
    keySize: 32,
    overhead: flaw === 'wrong-overhead' ? 29 : 28,
    seal(key, plaintext, ad) {
      const nonce = flaw === 'fixed-nonce' ? fixed : randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, nonce);
      if (ad && flaw !== 'ignores-associated-data') c.setAAD(ad);
      return Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
    },
    open(key, sealed, ad) {
      const s = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
      try {
        const d = createDecipheriv('aes-256-gcm', key, s.subarray(0, 12));
        d.setAuthTag(s.subarray(s.byteLength - 16));
        if (ad && flaw !== 'ignores-associated-data') d.setAAD(ad);
        return Buffer.concat([d.update(s.subarray(12, s.byteLength - 16)), d.final()]);
      } catch (cause) {
        if (flaw === 'raw-errors') throw cause;
        throw new CorruptError('reference-gcm', 'authentication failed', { cause });
      }
    },
  };
}

codecContract({ describe, test, expect }, () => referenceCodec());
cipherContract({ describe, test, expect }, () => referenceCipher(), { nonceSeals: 20_000 });

// The collecting runner's expect is typed for the store suite; these suites use a few more matchers.
function withExpect(runner: ReturnType<typeof collectingRunner>['runner']): CodecContractRunner {
  return { describe: runner.describe, test: runner.test, expect: (actual, message) => expect(actual, message) };
}

async function codecFailures(flaw: CodecFlaw): Promise<string[]> {
  const { runner, run } = collectingRunner();
  codecContract(withExpect(runner), () => referenceCodec(flaw), { propertyRuns: 20, largeInputSize: 1024 * 1024 });
  return named(await run(), 'failed').sort();
}

async function cipherFailures(flaw: CipherFlaw): Promise<string[]> {
  const { runner, run } = collectingRunner();
  cipherContract(withExpect(runner), () => referenceCipher(flaw), { nonceSeals: 5000 });
  return named(await run(), 'failed').sort();
}

describe('the codec contract catches a flawed codec', () => {
  test('one that ignores maxSize', async () => {
    expect(await codecFailures('ignores-max-size')).toEqual(['decompress(data, maxSize) refuses output larger than maxSize (decompression bomb)']);
  }, 120_000);

  test('one that accepts trailing bytes', async () => {
    expect(await codecFailures('ignores-trailing-bytes')).toEqual(['trailing bytes after a complete stream throw CorruptError']);
  }, 120_000);

  test('one that throws plain errors instead of CorruptError', async () => {
    expect(await codecFailures('raw-errors')).toEqual([
      'decompress(data, maxSize) refuses output larger than maxSize (decompression bomb)',
      'garbage input throws CorruptError',
      'trailing bytes after a complete stream throw CorruptError',
      'truncated input throws CorruptError at every shorter length',
    ]);
  }, 120_000);

  test('one whose empty output cannot be told from a truncation', async () => {
    expect(await codecFailures('empty-output')).toEqual(['garbage input throws CorruptError', 'truncated input throws CorruptError at every shorter length']);
  }, 120_000);

  test('one that loses a byte', async () => {
    const failed = await codecFailures('drops-last-byte');
    expect(failed).toContain('round trip of 1 MiB of mixed data at the default level');
    expect(failed).toContain('property: arbitrary byte arrays round-trip at any level');
    expect(failed).toContain('round trip at level 9: empty, 1 byte, incompressible, compressible');
  }, 120_000);
});

describe('the cipher contract catches a flawed cipher', () => {
  test('one that reuses its nonce', async () => {
    expect(await cipherFailures('fixed-nonce')).toEqual([
      'no nonce repeats across 5,000 seals',
      'seal does not change its inputs, and sealing twice gives different bytes',
    ]);
  });

  test('one that does not authenticate the associated data', async () => {
    expect(await cipherFailures('ignores-associated-data')).toEqual(['wrong or missing associated data fails authentication']);
  });

  test('one that lets raw library errors out', async () => {
    expect(await cipherFailures('raw-errors')).toEqual([
      'a wrong key fails authentication',
      'every flipped bit of a sealed message fails authentication',
      'every truncation fails (short input never throws a raw library error)',
      'wrong or missing associated data fails authentication',
    ]);
  });

  test('one that declares the wrong overhead', async () => {
    expect(await cipherFailures('wrong-overhead')).toContain('round trip: empty, small and 1 MiB, with and without associated data; overhead is exact');
  });
});
