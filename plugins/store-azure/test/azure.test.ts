import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PermissionError, StoreError, hasCode, type RetryEvent } from '@strata/core';
import { AZURITE_ACCOUNT, startAzurite, storeContract, type LoopbackServer } from '@strata/testkit';
import { AzureStore, azureDescriptor, azureStore, plugins } from '../src/index.js';

let server: LoopbackServer;
let connectionString: string;

beforeAll(async () => {
  server = await startAzurite();
  connectionString = server.env.AZURE_STORAGE_CONNECTION_STRING;
  await new AzureStore({ container: 'strata-test', connectionString }).create();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

storeContract({ describe, test, expect }, (prefix) => azureStore({ container: 'strata-test', prefix, connectionString }), { name: 'azure on Azurite' });

describe('azure descriptor', () => {
  const env = {};
  test('exports the azure scheme', () => {
    expect(plugins).toEqual([azureDescriptor]);
    expect(azureDescriptor.scheme).toBe('azure');
  });

  test('parses the URL forms and reads credentials from the environment it is given', () => {
    expect(azureDescriptor.parse('azure:backups/prod/db', env)).toEqual({ container: 'backups', prefix: 'prod/db' });
    expect(azureDescriptor.parse('azure://backups', env)).toEqual({ container: 'backups' });
    expect(azureDescriptor.parse('azure:backups/p', server.env)).toEqual({
      container: 'backups',
      prefix: 'p',
      connectionString,
      credentialsSource: 'AZURE_STORAGE_CONNECTION_STRING',
    });
    expect(azureDescriptor.parse('azure:backups?account=acct1&endpoint=https://acct1.blob.example', { AZURE_STORAGE_KEY: 'k' })).toEqual({
      container: 'backups',
      account: 'acct1',
      accountKey: 'k',
      endpoint: 'https://acct1.blob.example',
      credentialsSource: 'account "acct1" with AZURE_STORAGE_KEY',
    });
    expect(azureDescriptor.parse('azure:backups', { AZURE_STORAGE_ACCOUNT: 'acct2', AZURE_STORAGE_KEY: 'k2' })).toMatchObject({ account: 'acct2', accountKey: 'k2' });
  });

  test('rejects bad URLs with a clear error', () => {
    for (const bad of ['azure:', 'azure://', 's3:bucket', 'azure:Upper/x', 'azure:a--b/x', 'azure:ok-name?key=secret', 'azure:ok-name?endpoint=not a url']) {
      let err: unknown;
      try {
        azureDescriptor.parse(bad, env);
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, 'INVALID_ARGUMENT'), bad).toBe(true);
      expect(String(err), bad).toMatch(/^InvalidArgumentError: azure: /);
    }
  });

  test('round trip: parse -> describe -> parse gives the same options', () => {
    const urls = ['azure:backups/prod', 'azure:backups', 'azure:backups/a/b?account=acct1&endpoint=https://acct1.blob.example'];
    const envs = [env, server.env, { AZURE_STORAGE_ACCOUNT: 'acct2', AZURE_STORAGE_KEY: 'k2' }];
    for (const url of urls) {
      for (const e of envs) {
        const options = azureDescriptor.parse(url, e);
        expect(azureDescriptor.parse(azureDescriptor.describe(options), e), url).toEqual(options);
      }
    }
    expect(azureDescriptor.describe(azureDescriptor.parse('azure:backups/prod', server.env))).toBe('azure:backups/prod');
  });

  test('redacts secrets', () => {
    expect(azureDescriptor.redact('azure:b/p?account=a&sig=abc')).toBe('azure:b/p?account=a&sig=***');
    expect(azureDescriptor.redact('azure:b/p')).toBe('azure:b/p');
  });

  test('a store built from the dev-servers environment works', async () => {
    const store = await azureDescriptor.create(azureDescriptor.parse('azure:strata-test/from-env', server.env));
    await store.put('config', new TextEncoder().encode('hello'));
    expect(new TextDecoder().decode(await store.get('config'))).toBe('hello');
    await store.delete('config');
  });
});

describe('azure store on Azurite', () => {
  test('create() makes a missing container, and is harmless when it exists', async () => {
    const store = azureStore({ container: 'made-by-create', connectionString });
    await store.create!();
    await store.create!();
    await store.put('config', Uint8Array.of(1, 2, 3));
    expect([...(await store.get('config'))]).toEqual([1, 2, 3]);
    await store.delete('config');
  });

  test('a missing container is a permanent error that names it', async () => {
    const events: RetryEvent[] = [];
    const store = azureStore({ container: 'no-such-container', connectionString, retry: { onRetry: (e) => events.push(e), sleep: async () => {} } });
    const err = await store.put('config', Uint8Array.of(1)).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.transient).toBe(false);
    expect(err.message).toContain('"no-such-container"');
    expect(err.message).toContain('does not exist');
    expect(events).toEqual([]);
  });

  test('a wrong account key is a PermissionError naming the container and the source of the credentials', async () => {
    const wrongKey = Buffer.alloc(64, 1).toString('base64');
    const store = new AzureStore({ container: 'strata-test', account: AZURITE_ACCOUNT, accountKey: wrongKey, endpoint: `${server.endpoint}/${AZURITE_ACCOUNT}` });
    const err = await store.get('config').catch((e) => e);
    expect(err).toBeInstanceOf(PermissionError);
    expect(err.message).toContain('"strata-test"');
    expect(err.message).toContain(`account "${AZURITE_ACCOUNT}"`);
  });

  test('a refused connection is transient: retried, then reported', async () => {
    const events: RetryEvent[] = [];
    const closed = connectionString.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:1');
    const store = azureStore({ container: 'strata-test', connectionString: closed, retry: { maxAttempts: 3, onRetry: (e) => events.push(e), sleep: async () => {} } });
    const err = await store.stat('config').catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.transient).toBe(true);
    expect(events.map((e) => e.operation)).toEqual(['stat', 'stat']);
  });

  test('a large object goes up in blocks, and put-if-absent holds for block uploads', async () => {
    const store = new AzureStore({ container: 'strata-test', prefix: 'blocks', connectionString, maxSingleShotSize: 1024 * 1024, blockSize: 1024 * 1024 });
    const data = new Uint8Array(3 * 1024 * 1024 + 11);
    for (let i = 0; i < data.length; i += 512) data[i] = (i / 512) & 255;
    await store.put('data/aa/big', data, { ifAbsent: true });
    expect(Buffer.compare(await store.get('data/aa/big'), data)).toBe(0);
    const again = await store.put('data/aa/big', data, { ifAbsent: true }).catch((e) => e);
    expect(hasCode(again, 'ALREADY_EXISTS')).toBe(true);
    await store.delete('data/aa/big');
  });
});
