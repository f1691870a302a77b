import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PermissionError, StoreError, hasCode, type RetryEvent } from '@strata/core';
import { startS3Server, storeContract, type LoopbackServer } from '@strata/testkit';
import { S3Store, plugins, s3Descriptor, s3Store } from '../src/index.js';

let server: LoopbackServer;
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

beforeAll(async () => {
  server = await startS3Server({ buckets: ['strata-test'] });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

// s3rver ignores If-None-Match, so the contract runs with conditional writes off (HEAD, then PUT),
// and it lets readers see an object while it is written; AWS S3 has both guarantees.
storeContract({ describe, test, expect }, (prefix) =>
  s3Store({
    bucket: 'strata-test',
    prefix,
    endpoint: server.endpoint,
    credentials: { ...credentials },
    region: 'us-east-1',
    conditionalWrites: false,
    capabilities: { atomicPut: false },
  }),
  { name: 's3 on s3rver' },
);

describe('s3 descriptor', () => {
  const env = {};
  test('exports the s3 scheme', () => {
    expect(plugins).toEqual([s3Descriptor]);
    expect(s3Descriptor.scheme).toBe('s3');
  });

  test('parses the URL forms', () => {
    expect(s3Descriptor.parse('s3:app-backups/prod/db', env)).toEqual({ bucket: 'app-backups', prefix: 'prod/db' });
    expect(s3Descriptor.parse('s3:app-backups', env)).toEqual({ bucket: 'app-backups' });
    expect(s3Descriptor.parse('s3://app-backups/x/', env)).toEqual({ bucket: 'app-backups', prefix: 'x' });
    expect(s3Descriptor.parse('s3:https://minio.example:9000/bucket1/repo?region=eu-west-1', env)).toEqual({
      bucket: 'bucket1',
      prefix: 'repo',
      endpoint: 'https://minio.example:9000',
      forcePathStyle: true,
      region: 'eu-west-1',
    });
    expect(s3Descriptor.parse('s3:b1x/p?pathStyle=1&conditionalWrites=0&profile=backup&partSize=16777216', env)).toEqual({
      bucket: 'b1x',
      prefix: 'p',
      forcePathStyle: true,
      conditionalWrites: false,
      profile: 'backup',
      partSize: 16777216,
    });
  });

  test('reads endpoint, path style, region and keys from the environment it is given', () => {
    const o = s3Descriptor.parse('s3:strata-test/repo', server.env);
    expect(o).toMatchObject({
      bucket: 'strata-test',
      prefix: 'repo',
      endpoint: server.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials,
    });
    expect(o.credentialsSource).toContain('AWS_ACCESS_KEY_ID');
  });

  test('rejects bad URLs with a clear error', () => {
    for (const bad of ['s3:', 's3:/', 'gs:bucket', 's3:Bad_Bucket/x', 's3:bucket?nope=1', 's3:bucket?pathStyle=maybe', 's3:http://[bad/b']) {
      expect(() => s3Descriptor.parse(bad, env), bad).toThrow(/s3: /);
      try {
        s3Descriptor.parse(bad, env);
      } catch (err) {
        expect(hasCode(err, 'INVALID_ARGUMENT'), bad).toBe(true);
      }
    }
  });

  test('round trip: parse -> describe -> parse gives the same options', () => {
    const urls = [
      's3:app-backups/prod',
      's3:app-backups',
      's3:https://minio.example:9000/bucket1/repo/sub',
      's3:http://127.0.0.1:9000/b12?pathStyle=0',
      's3:b12/p?region=eu-central-1&profile=x&conditionalWrites=0&checksums=when_required&pathStyle=1',
    ];
    for (const url of urls) {
      for (const e of [env, server.env]) {
        const options = s3Descriptor.parse(url, e);
        const again = s3Descriptor.parse(s3Descriptor.describe(options), e);
        expect(again, url).toEqual(options);
      }
    }
    expect(s3Descriptor.describe(s3Descriptor.parse('s3:app-backups/prod', env))).toBe('s3:app-backups/prod');
  });

  test('redacts secrets', () => {
    expect(s3Descriptor.redact('s3:https://key:secret@minio.example/b/p')).toBe('s3:https://***@minio.example/b/p');
    expect(s3Descriptor.redact('s3:b/p?region=x&secretAccessKey=abc')).toBe('s3:b/p?region=x&secretAccessKey=***');
    expect(s3Descriptor.redact('s3:b/p')).toBe('s3:b/p');
  });

  test('a store built from the dev-servers environment works', async () => {
    const store = await s3Descriptor.create(s3Descriptor.parse('s3:strata-test/from-env', server.env));
    expect(store.location).toBe(`s3:${server.endpoint}/strata-test/from-env`);
    await store.put('config', new TextEncoder().encode('hello'));
    expect(new TextDecoder().decode(await store.get('config'))).toBe('hello');
    await store.delete('config');
    await store.close?.();
  });
});

describe('s3 store on s3rver', () => {
  test('create() makes a missing bucket, and is harmless when it exists', async () => {
    const store = s3Store({ bucket: 'made-by-create', endpoint: server.endpoint, credentials, conditionalWrites: false });
    await store.create!();
    await store.create!();
    await store.put('config', Uint8Array.of(1, 2, 3));
    expect([...(await store.get('config'))]).toEqual([1, 2, 3]);
    await store.delete('config');
    await store.close?.();
  });

  test('a missing bucket is a permanent error that names it', async () => {
    const events: RetryEvent[] = [];
    const store = s3Store({ bucket: 'no-such-bucket', endpoint: server.endpoint, credentials, retry: { onRetry: (e) => events.push(e), sleep: async () => {} } });
    const err = await store.put('config', Uint8Array.of(1)).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.transient).toBe(false);
    expect(err.message).toContain('"no-such-bucket"');
    expect(err.message).toContain('does not exist');
    expect(events).toEqual([]);
    await store.close?.();
  });

  test('a refused connection is transient: retried, then reported', async () => {
    const events: RetryEvent[] = [];
    // A port that was free a moment ago: nothing listens there.
    const closed = server.endpoint.replace(/:\d+$/, ':1');
    const store = s3Store({ bucket: 'strata-test', endpoint: closed, credentials, retry: { maxAttempts: 3, onRetry: (e) => events.push(e), sleep: async () => {} } });
    const err = await store.get('config').catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.transient).toBe(true);
    expect(err.message).toContain('strata-test');
    expect(events.map((e) => e.operation)).toEqual(['get', 'get']);
    await store.close?.();
  });

  test('refused credentials are a PermissionError naming the bucket and the source of the credentials', async () => {
    const store = new S3Store({ bucket: 'strata-test', endpoint: server.endpoint, credentials: { accessKeyId: 'WRONG', secretAccessKey: 'WRONG' } });
    const err = await store.get('config').catch((e) => e);
    expect(err).toBeInstanceOf(PermissionError);
    expect(err.message).toContain('"strata-test"');
    expect(err.message).toContain('the store options');
    await store.close();
  });

  test('a large object goes up in parts and reads back whole', async () => {
    const store = new S3Store({ bucket: 'strata-test', prefix: 'multipart', endpoint: server.endpoint, credentials, multipartThreshold: 5 * 1024 * 1024, partSize: 5 * 1024 * 1024 });
    const data = new Uint8Array(12 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) & 255;
    await store.put('data/aa/big', data);
    expect((await store.stat('data/aa/big')).size).toBe(data.length);
    const back = await store.get('data/aa/big');
    expect(Buffer.compare(back, data)).toBe(0);
    await store.delete('data/aa/big');
    await store.close();
  });
});
