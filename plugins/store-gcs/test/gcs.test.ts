import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { StoreError, hasCode, type RetryEvent } from '@strata/core';
import { startGcsServer, storeContract, type GcsServer, type LoopbackServer } from '@strata/testkit';
import { GcsStore, gcsDescriptor, gcsStore, plugins } from '../src/index.js';

let server: LoopbackServer & { server: GcsServer };

beforeAll(async () => {
  server = await startGcsServer({ buckets: ['strata-test'] });
});
afterAll(async () => {
  await server?.stop();
});

storeContract({ describe, test, expect }, (prefix) => gcsStore({ bucket: 'strata-test', prefix, endpoint: server.endpoint, projectId: 'strata-test' }), {
  name: 'gcs on the loopback JSON-API server',
});

describe('gs descriptor', () => {
  const env = {};
  test('exports the gs scheme', () => {
    expect(plugins).toEqual([gcsDescriptor]);
    expect(gcsDescriptor.scheme).toBe('gs');
  });

  test('parses the URL forms', () => {
    expect(gcsDescriptor.parse('gs:app-backups/prod/db', env)).toEqual({ bucket: 'app-backups', prefix: 'prod/db' });
    expect(gcsDescriptor.parse('gs://app-backups', env)).toEqual({ bucket: 'app-backups' });
    expect(gcsDescriptor.parse('gs:b_1x/p?project=proj-1&endpoint=http://127.0.0.1:4443&anonymous=1&location=EU', env)).toEqual({
      bucket: 'b_1x',
      prefix: 'p',
      projectId: 'proj-1',
      endpoint: 'http://127.0.0.1:4443',
      anonymous: true,
      bucketLocation: 'EU',
    });
    expect(gcsDescriptor.parse('gs:b1x', { GOOGLE_APPLICATION_CREDENTIALS: '/etc/key.json', GCLOUD_PROJECT: 'p2' })).toEqual({
      bucket: 'b1x',
      keyFilename: '/etc/key.json',
      projectId: 'p2',
    });
  });

  test('reads the endpoint and project from the environment it is given', () => {
    expect(gcsDescriptor.parse('gs:strata-test/repo', server.env)).toEqual({
      bucket: 'strata-test',
      prefix: 'repo',
      endpoint: server.endpoint,
      projectId: 'strata-test',
    });
  });

  test('rejects bad URLs with a clear error', () => {
    for (const bad of ['gs:', 'gs://', 's3:bucket', 'gs:UPPER/x', 'gs:bucket?nope=1', 'gs:bucket?anonymous=maybe', 'gs:bucket?endpoint=nota url']) {
      let err: unknown;
      try {
        gcsDescriptor.parse(bad, env);
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, 'INVALID_ARGUMENT'), bad).toBe(true);
      expect(String(err), bad).toMatch(/^InvalidArgumentError: gcs: /);
    }
  });

  test('round trip: parse -> describe -> parse gives the same options', () => {
    const urls = ['gs:app-backups/prod', 'gs:app-backups', 'gs:b1x/a/b?project=p&keyFile=/k.json&anonymous=0&location=EU&endpoint=https://gcs.example'];
    for (const url of urls) {
      for (const e of [env, server.env]) {
        const options = gcsDescriptor.parse(url, e);
        expect(gcsDescriptor.parse(gcsDescriptor.describe(options), e), url).toEqual(options);
      }
    }
    expect(gcsDescriptor.describe(gcsDescriptor.parse('gs:app-backups/prod', env))).toBe('gs:app-backups/prod');
  });

  test('redacts secrets', () => {
    expect(gcsDescriptor.redact('gs:b/p?project=x&token=abc')).toBe('gs:b/p?project=x&token=***');
    expect(gcsDescriptor.redact('gs:b/p')).toBe('gs:b/p');
  });

  test('a store built from the dev-servers environment works', async () => {
    const store = await gcsDescriptor.create(gcsDescriptor.parse('gs:strata-test/from-env', server.env));
    await store.put('config', new TextEncoder().encode('hello'));
    expect(new TextDecoder().decode(await store.get('config'))).toBe('hello');
    await store.delete('config');
  });
});

describe('gcs store on the loopback server', () => {
  test('create() makes a missing bucket, and is harmless when it exists', async () => {
    const store = gcsStore({ bucket: 'made-by-create', endpoint: server.endpoint, projectId: 'strata-test' });
    expect(server.server.buckets.has('made-by-create')).toBe(false);
    await store.create!();
    await store.create!();
    expect(server.server.buckets.has('made-by-create')).toBe(true);
    await store.put('config', Uint8Array.of(1, 2, 3));
    expect([...(await store.get('config'))]).toEqual([1, 2, 3]);
    await store.delete('config');
  });

  test('a missing bucket is a permanent error that names it', async () => {
    const events: RetryEvent[] = [];
    const store = gcsStore({ bucket: 'no-such-bucket', endpoint: server.endpoint, retry: { onRetry: (e) => events.push(e), sleep: async () => {} } });
    const err = await store.get('config').catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.transient).toBe(false);
    expect(err.message).toContain('"no-such-bucket"');
    expect(err.message).toContain('does not exist');
    expect(events).toEqual([]);
  });

  test('unusable credentials are a permanent PermissionError saying what to do, never a raw file or OpenSSL error', async () => {
    const cases = [
      { options: { keyFilename: '/nonexistent/strata-key.json' }, says: 'credentials file /nonexistent/strata-key.json cannot be read (ENOENT)' },
      { options: { credentials: { client_email: 'x@strata-test.iam.gserviceaccount.com', private_key: 'not a key' } }, says: 'download the service account key file again' },
    ];
    for (const { options, says } of cases) {
      const events: RetryEvent[] = [];
      const store = gcsStore({ bucket: 'strata-test', endpoint: server.endpoint, anonymous: false, ...options, retry: { onRetry: (e) => events.push(e), sleep: async () => {} } });
      const err = await store.stat('config').catch((e) => e);
      expect(hasCode(err, 'PERMISSION'), String(err)).toBe(true);
      expect(err.message).toContain(says);
      expect(err.message).not.toMatch(/ERR_OSSL|routines::/);
      expect(events).toEqual([]);
    }
  });

  test('a refused connection is transient: retried, then reported', async () => {
    const events: RetryEvent[] = [];
    const closed = server.endpoint.replace(/:\d+$/, ':1');
    const store = gcsStore({ bucket: 'strata-test', endpoint: closed, retry: { maxAttempts: 3, onRetry: (e) => events.push(e), sleep: async () => {} } });
    const err = await store.put('config', Uint8Array.of(1)).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.transient).toBe(true);
    expect(events.map((e) => e.operation)).toEqual(['put', 'put']);
  });

  test('resumable uploads in chunks, and put-if-absent through a resumable upload', async () => {
    const store = new GcsStore({ bucket: 'strata-test', prefix: 'resumable', endpoint: server.endpoint, resumableThreshold: 1024, chunkSize: 256 * 1024 });
    const data = new Uint8Array(1024 * 1024 + 5);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 255;
    await store.put('data/aa/big', data, { ifAbsent: true });
    const stored = server.server.buckets.get('strata-test')!.objects.get('resumable/data/aa/big')!;
    expect(stored.data.length).toBe(data.length);
    expect(Buffer.compare(await store.get('data/aa/big'), data)).toBe(0);
    const again = await store.put('data/aa/big', data.subarray(0, 2000), { ifAbsent: true }).catch((e) => e);
    expect(hasCode(again, 'ALREADY_EXISTS')).toBe(true);
    expect((await store.stat('data/aa/big')).size).toBe(data.length);
    await store.delete('data/aa/big');
  });

  test('a body damaged on the server is caught by the hash check on a whole read', async () => {
    const store = new GcsStore({ bucket: 'strata-test', prefix: 'damaged', endpoint: server.endpoint });
    await store.put('index/x', new Uint8Array(5000).fill(7));
    const stored = server.server.buckets.get('strata-test')!.objects.get('damaged/index/x')!;
    stored.data = Buffer.from(stored.data);
    stored.data[100] ^= 1;
    const err = await store.get('index/x').catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.transient).toBe(true);
    await store.delete('index/x');
  });
});
