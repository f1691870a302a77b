// The plugin registry, in process against the real plugin packages.
import path from 'node:path';
import type { PluginDescriptor, StoreDescriptor } from '@strata/core';
import { describe, expect, test } from 'vitest';
import { BUILTIN_PLUGINS, descriptorsOf, PluginRegistry, splitScheme } from '../src/registry.js';

/** A registry that records which packages it imported (the imports are real). */
function recordingRegistry(): { registry: PluginRegistry; imported: string[] } {
  const imported: string[] = [];
  const registry = new PluginRegistry(async (s) => {
    imported.push(s);
    return import(s);
  });
  for (const p of BUILTIN_PLUGINS) registry.registerLazy(p.kind, p.name, p.package, p.summary);
  return { registry, imported };
}

const memDescriptor = (scheme: string): StoreDescriptor<{ url: string }> => ({
  kind: 'store',
  scheme,
  summary: 'test',
  parse: (url) => ({ url }),
  redact: (url) => url.replace(/secret=[^&]*/, 'secret=***'),
  create() {
    throw new Error('not used');
  },
  describe: (o) => o.url,
});

describe('PluginRegistry', () => {
  test('knows the built-in schemes, codecs, ciphers and detectors without importing anything', () => {
    const { registry, imported } = recordingRegistry();
    expect(registry.names('store')).toEqual(['azure', 'gs', 'local', 's3']);
    expect(registry.names('codec')).toEqual(['brotli', 'gzip', 'zstd']);
    expect(registry.names('cipher')).toEqual(['aes-256-gcm', 'chacha20-poly1305']);
    expect(registry.names('detector')).toEqual(['metadata', 'sha256']);
    expect(imported).toEqual([]);
  });

  test('a plain path and local: resolve to the local store; only store-local is imported', async () => {
    const { registry, imported } = recordingRegistry();
    const plain = await registry.resolve('relative/repo');
    expect(plain.url).toBe(`local:${path.resolve('relative/repo')}`);
    expect(plain.descriptor.scheme).toBe('local');
    expect(plain.redacted).toBe(plain.url);
    const prefixed = await registry.resolve('local:/backups/app');
    expect(prefixed.url).toBe('local:/backups/app');
    expect(prefixed.descriptor.describe(prefixed.options)).toBe('local:/backups/app');
    expect(imported).toEqual(['@strata/store-local']);
  });

  test('codecs and ciphers are created from their packages, and no cloud SDK is imported', async () => {
    const { registry, imported } = recordingRegistry();
    const codecs = await registry.codecs();
    expect(codecs.map((c) => c.name).sort()).toEqual(['brotli', 'gzip', 'zstd']);
    const ciphers = await registry.ciphers();
    expect(ciphers.map((c) => c.name).sort()).toEqual(['aes-256-gcm', 'chacha20-poly1305']);
    expect((await registry.cipher('chacha20-poly1305')).name).toBe('chacha20-poly1305');
    expect((await registry.detector('sha256')).name).toBe('sha256');
    expect(imported.some((s) => /store-(s3|gcs|azure)/.test(s))).toBe(false);
  });

  test('an unknown scheme names the installed ones', async () => {
    const registry = PluginRegistry.withBuiltins();
    await expect(registry.resolve('ftp:host/x')).rejects.toThrow('unknown repository scheme "ftp:" in "ftp:host/x"; installed schemes are azure:, gs:, local:, s3: (a plain path is a local folder)');
  });

  test('a scheme registered twice is an error naming both packages', () => {
    const registry = PluginRegistry.withBuiltins();
    expect(() => registry.register(memDescriptor('local'), 'strata-plugin-x')).toThrow(
      'plugin strata-plugin-x registers URL scheme "local:", which @strata/store-local already provides',
    );
    registry.register(memDescriptor('mem'), 'strata-plugin-mem');
    expect(() => registry.register(memDescriptor('mem'), 'strata-plugin-other')).toThrow('which strata-plugin-mem already provides');
  });

  test('a registered plugin resolves and redacts its URLs; parse and describe round-trip', async () => {
    const registry = PluginRegistry.withBuiltins();
    registry.register(memDescriptor('mem'), 'strata-plugin-mem');
    const loc = await registry.resolve('mem:bucket/p?secret=abc');
    expect(loc.redacted).toBe('mem:bucket/p?secret=***');
    expect(loc.descriptor.describe(loc.options)).toBe('mem:bucket/p?secret=abc');
    expect(loc.descriptor.parse(loc.descriptor.describe(loc.options))).toEqual(loc.options);
  });

  test('a bad URL for a known scheme is an INVALID_ARGUMENT error', async () => {
    const registry = PluginRegistry.withBuiltins();
    registry.register({ ...memDescriptor('strict'), parse: () => { throw new Error('needs a bucket'); } }, 'p');
    await expect(registry.resolve('strict:')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'cli: repository URL "strict:" is not valid: needs a bucket' });
  });

  test('unknown cipher and detector names list the choices', async () => {
    const registry = PluginRegistry.withBuiltins();
    await expect(registry.cipher('rot13')).rejects.toThrow('unknown encryption "rot13"; choose one of aes-256-gcm, chacha20-poly1305, none');
    await expect(registry.detector('crc')).rejects.toThrow('unknown change detector "crc"; choose one of metadata, sha256');
  });
});

describe('built-in store descriptors through the registry', () => {
  test.each([
    ['local:/backups/app'],
    ['s3:my-bucket/some/prefix'],
    ['gs:my-bucket/prefix'],
    ['azure:container/prefix'],
  ])('%s: parse -> describe -> parse gives the same options, and the redacted URL names the scheme', async (url) => {
    const registry = PluginRegistry.withBuiltins();
    const env = { AZURE_STORAGE_CONNECTION_STRING: 'DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/a;' };
    const loc = await registry.resolve(url, env);
    const again = loc.descriptor.parse(loc.descriptor.describe(loc.options), env);
    expect(again).toEqual(loc.options);
    expect(loc.redacted.startsWith(`${url.split(':')[0]}:`)).toBe(true);
  });
});

describe('descriptorsOf', () => {
  test('reads the plugins export, and rejects a module without descriptors', () => {
    const d = memDescriptor('mem') as PluginDescriptor;
    expect(descriptorsOf({ plugins: [d] }, 'p')).toEqual([d]);
    expect(() => descriptorsOf({ plugins: [{ kind: 'nope' }] }, 'p')).toThrow('plugin package p: plugins[0] is not a plugin descriptor');
    expect(() => descriptorsOf({ something: 1 }, 'p')).toThrow('plugin package p exports no "plugins" array of descriptors');
  });
});

describe('splitScheme', () => {
  test('splits scheme URLs and leaves paths and drive letters alone', () => {
    expect(splitScheme('s3:bucket/prefix')).toEqual({ scheme: 's3', rest: 'bucket/prefix' });
    expect(splitScheme('S3:b')).toEqual({ scheme: 's3', rest: 'b' });
    expect(splitScheme('/backups/app')).toBeNull();
    expect(splitScheme('./a:b')).toBeNull();
    expect(splitScheme('C:\\backups')).toBeNull();
  });
});
