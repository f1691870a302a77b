import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { formatStoreUrl, parseFlag, parseStoreUrl, readBody, redactUrlQuery, type StoreUrlSpec } from '../src/index.js';

const spec: StoreUrlSpec = { scheme: 'x', component: 'x', container: 'bucket', queryKeys: ['region', 'endpoint'], endpointInPath: true };

async function* chunks(...parts: number[][]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield Uint8Array.from(p);
}

describe('store URLs', () => {
  test('format and parse are inverse', () => {
    const segment = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,12}$/);
    fc.assert(
      fc.property(segment, fc.array(segment, { maxLength: 3 }), fc.option(fc.constantFrom('https://h:9000', 'http://127.0.0.1:1'), { nil: undefined }), fc.option(segment, { nil: undefined }), (container, folders, endpoint, region) => {
        const query = new URLSearchParams(region ? { region } : {});
        const url = formatStoreUrl('x', { container, prefix: folders.join('/'), endpoint }, query);
        const back = parseStoreUrl(url, spec);
        expect(back).toEqual({ container, prefix: folders.join('/'), query, ...(endpoint ? { endpoint } : {}) });
      }),
    );
  });

  test('another scheme, an unknown option and a missing bucket are named errors', () => {
    expect(() => parseStoreUrl('y:b', spec)).toThrow(/does not start with x:; use x:bucket\/prefix/);
    expect(() => parseStoreUrl('x:b?secret=1', { ...spec, queryHint: '(secrets go elsewhere)' })).toThrow(/unknown option "secret" .*known: region, endpoint \(secrets go elsewhere\)/);
    expect(() => parseStoreUrl('x://', spec)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('names no bucket') }));
  });

  test('redaction hides only secret options', () => {
    expect(redactUrlQuery('x:b/p?key=abc&region=eu', /^key$/)).toBe('x:b/p?key=***&region=eu');
    expect(redactUrlQuery('x:b/p', /^key$/)).toBe('x:b/p');
  });

  test('flags', () => {
    expect([parseFlag('YES', 'f', 'x'), parseFlag('0', 'f', 'x'), parseFlag(null, 'f', 'x')]).toEqual([true, false, undefined]);
    expect(() => parseFlag('maybe', 'pathStyle', 'x')).toThrow('x: pathStyle must be 1 or 0, not "maybe"');
  });

  test('readBody fills one buffer and names a short or long body as a transient store error', async () => {
    expect(Array.from(await readBody(chunks([1, 2], [3]), 3, 'x', '"k"'))).toEqual([1, 2, 3]);
    await expect(readBody(chunks([1]), 2, 'x', '"k"')).rejects.toMatchObject({ code: 'STORE', transient: true, message: 'x: reading "k" was cut short (1 of 2 bytes); will retry' });
    await expect(readBody(chunks([1, 2, 3]), 2, 'x', '"k"')).rejects.toMatchObject({ code: 'STORE', transient: true });
  });
});
