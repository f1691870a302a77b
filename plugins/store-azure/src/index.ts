import {
  BlobServiceClient,
  StorageSharedKeyCredential,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import {
  AlreadyExistsError,
  InvalidArgumentError,
  NotFoundError,
  PermissionError,
  NETWORK_ERROR_CODES,
  StoreError,
  formatStoreUrl,
  isNotFound,
  isStrataError,
  isTransientStatus,
  parseEndpoint,
  parseStoreUrl,
  readBody,
  redactUrlQuery,
  retryingStore,
  trimSlashes,
  type ByteRange,
  type ObjectInfo,
  type PluginDescriptor,
  type PutOptions,
  type RetryPolicy,
  type Store,
  type StoreCapabilities,
  type StoreDescriptor,
} from '@strata/core';

const COMPONENT = 'azure';
const MiB = 1024 * 1024;

export interface AzureStoreOptions {
  /** The blob container. Required. */
  container: string;
  /** A folder inside the container that holds the repository, without leading or trailing `/`. Default: the container's root. */
  prefix?: string;
  /** A storage connection string. Default: `AZURE_STORAGE_CONNECTION_STRING`, unless `account` is given. */
  connectionString?: string;
  /** The storage account name, used with `accountKey` (or `AZURE_STORAGE_ACCOUNT`). */
  account?: string;
  /** The storage account's shared key (or `AZURE_STORAGE_KEY`). */
  accountKey?: string;
  /** Blob service URL for an account. Default: `https://<account>.blob.core.windows.net`. */
  endpoint?: string;
  /** Objects larger than this go up in blocks. Default 16 MiB. */
  maxSingleShotSize?: number;
  /** Size of each block of a block upload. Default 8 MiB. */
  blockSize?: number;
  /** Blocks uploaded at once. Default 4. */
  concurrency?: number;
  /** Where the credentials came from, named in permission errors. Default: worked out from the options. */
  credentialsSource?: string;
  /** How failed requests are retried (see `@strata/core` RetryPolicy), or false for no retries. Default: the core defaults. */
  retry?: RetryPolicy | false;
  /** A configured container client to use instead of building one. */
  containerClient?: ContainerClient;
}

const TRANSIENT_CODES = new Set(['ServerBusy', 'InternalError', 'OperationTimedOut']);
const PERMISSION_CODES = new Set(['AuthenticationFailed', 'AuthorizationFailure', 'AuthorizationPermissionMismatch', 'InsufficientAccountPermissions', 'AccountIsDisabled', 'InvalidAuthenticationInfo']);

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message?: string;
  details?: { errorCode?: string };
}

function errorCode(err: RestErrorLike): string | undefined {
  return err.details?.errorCode ?? err.code;
}

/**
 * A Store on an Azure Blob Storage container. Keys are block blobs under `prefix/`. Small
 * objects go up in one request, large ones as blocks cut from the caller's bytes (no copy) and
 * then committed; put-if-absent is `If-None-Match: *`, decided by the service. Every call is
 * retried by the core retry policy unless `retry: false`; the SDK's own retries are off.
 */
export class AzureStore implements Store {
  readonly name = COMPONENT;
  readonly location: string;
  readonly capabilities: StoreCapabilities = { rangeRead: true, conditionalCreate: true, atomicPut: true };
  readonly container: string;
  readonly prefix: string;
  readonly client: ContainerClient;
  private readonly maxSingleShotSize: number;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private readonly credentialsSource: string;

  constructor(options: AzureStoreOptions) {
    if (!options || typeof options.container !== 'string' || options.container.length === 0) {
      throw new InvalidArgumentError(COMPONENT, 'no container given; pass { container } or a URL like azure:container/prefix');
    }
    this.container = options.container;
    this.prefix = trimSlashes(options.prefix ?? '');
    this.maxSingleShotSize = options.maxSingleShotSize ?? 16 * MiB;
    this.blockSize = options.blockSize ?? 8 * MiB;
    this.concurrency = options.concurrency ?? 4;
    this.location = azureDescriptor.describe({ container: this.container, prefix: this.prefix });
    // The core retry policy retries; the SDK's retries would multiply with it.
    const pipeline: StoragePipelineOptions = { retryOptions: { maxTries: 1 } };
    if (options.containerClient) {
      this.client = options.containerClient;
      this.credentialsSource = options.credentialsSource ?? 'the container client passed in the options';
      return;
    }
    const account = options.account ?? (options.connectionString ? undefined : process.env.AZURE_STORAGE_ACCOUNT);
    const connectionString = options.connectionString ?? (account ? undefined : process.env.AZURE_STORAGE_CONNECTION_STRING);
    let service: BlobServiceClient;
    if (connectionString) {
      try {
        service = BlobServiceClient.fromConnectionString(connectionString, pipeline);
      } catch (cause) {
        throw new InvalidArgumentError(COMPONENT, 'the connection string cannot be read; copy it again from the storage account\'s "Access keys" page', { cause });
      }
      this.credentialsSource =
        options.credentialsSource ?? (options.connectionString ? 'the connection string in the options' : 'AZURE_STORAGE_CONNECTION_STRING');
    } else if (account) {
      const key = options.accountKey ?? process.env.AZURE_STORAGE_KEY;
      if (!key) {
        throw new InvalidArgumentError(COMPONENT, `no key for storage account "${account}"; set AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING`);
      }
      const endpoint = options.endpoint ?? `https://${account}.blob.core.windows.net`;
      service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, key), pipeline);
      this.credentialsSource =
        options.credentialsSource ?? (options.accountKey ? `the key of account "${account}" in the options` : `account "${account}" with AZURE_STORAGE_KEY`);
    } else {
      throw new InvalidArgumentError(COMPONENT, 'no credentials; set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY');
    }
    this.client = service.getContainerClient(this.container);
  }

  private keyOf(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private where(): string {
    return `container "${this.container}"${this.prefix ? ` (prefix "${this.prefix}")` : ''}`;
  }

  /** Converts an SDK error to a Strata error at the edge. */
  private error(err: unknown, action: string, key?: string): Error {
    if (isStrataError(err)) return err;
    const e = (err ?? {}) as RestErrorLike;
    const status = e.statusCode;
    const code = errorCode(e);
    const what = key === undefined ? this.where() : `"${key}" in ${this.where()}`;
    const detail = [status, code].filter(Boolean).join(' ') || e.message || String(err);
    if (code === 'ContainerNotFound') {
      return new StoreError(COMPONENT, `${this.where()} does not exist; create it with \`strata init\` or check the container name`, { cause: err });
    }
    if (status === 404 || code === 'BlobNotFound') return new NotFoundError(COMPONENT, `object ${what} does not exist`, { cause: err });
    if (status === 409 && code === 'BlobAlreadyExists') return new AlreadyExistsError(COMPONENT, `object ${what} already exists; it is never overwritten`, { cause: err });
    if (status === 412 || code === 'ConditionNotMet') return new AlreadyExistsError(COMPONENT, `object ${what} already exists; it is never overwritten`, { cause: err });
    if (status === 401 || status === 403 || PERMISSION_CODES.has(code ?? '')) {
      return new PermissionError(COMPONENT, `${action} ${what} was refused (${detail}); check that the credentials from ${this.credentialsSource} are valid and allow it`, { cause: err });
    }
    const transient =
      isTransientStatus(status) ||
      TRANSIENT_CODES.has(code ?? '') ||
      NETWORK_ERROR_CODES.has(code ?? '') ||
      NETWORK_ERROR_CODES.has((err as { cause?: { code?: string } })?.cause?.code ?? '') ||
      /ECONNRESET|socket hang up|ETIMEDOUT/i.test(e.message ?? '');
    return new StoreError(COMPONENT, `${action} ${what} failed (${detail})${transient ? '; will retry' : ''}`, { cause: err, transient });
  }

  /** Makes the container when it is missing; an existing one is left alone. */
  async create(): Promise<void> {
    try {
      await this.client.createIfNotExists();
    } catch (err) {
      throw this.error(err, 'creating', undefined);
    }
  }

  /** Writes a block blob; with `ifAbsent` the service refuses to replace an existing one. */
  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const blob = this.client.getBlockBlobClient(this.keyOf(key));
    const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      await blob.uploadData(body, {
        maxSingleShotSize: this.maxSingleShotSize,
        blockSize: this.blockSize,
        concurrency: this.concurrency,
        conditions: options.ifAbsent ? { ifNoneMatch: '*' } : undefined,
        blobHTTPHeaders: { blobContentType: 'application/octet-stream' },
      });
    } catch (err) {
      throw this.error(err, 'writing', key);
    }
  }

  /** Reads the blob or a range; a range starting at or past the end gives an empty array. */
  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    if (range && range.length === 0) {
      await this.stat(key);
      return new Uint8Array(0);
    }
    const blob = this.client.getBlobClient(this.keyOf(key));
    let res;
    try {
      res = await blob.download(range?.offset ?? 0, range?.length);
    } catch (err) {
      const e = err as RestErrorLike;
      if (range && (e.statusCode === 416 || errorCode(e) === 'InvalidRange')) {
        // Past the end of an existing blob; a missing one is still NotFound.
        await this.stat(key);
        return new Uint8Array(0);
      }
      throw this.error(err, 'reading', key);
    }
    try {
      return await readBody(res.readableStreamBody as AsyncIterable<Buffer>, res.contentLength ?? 0, COMPONENT, `"${key}" in ${this.where()}`);
    } catch (err) {
      throw this.error(err, 'reading', key);
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    try {
      const props = await this.client.getBlobClient(this.keyOf(key)).getProperties();
      return { key, size: props.contentLength ?? 0 };
    } catch (err) {
      throw this.error(err, 'reading', key);
    }
  }

  /** Lists 1,000 blobs a page. */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const root = this.prefix ? `${this.prefix}/` : '';
    const pages = this.client.listBlobsFlat({ prefix: root + prefix }).byPage({ maxPageSize: 1000 });
    while (true) {
      let page;
      try {
        page = await pages.next();
      } catch (err) {
        throw this.error(err, 'listing', prefix);
      }
      if (page.done) return;
      for (const item of page.value.segment.blobItems) {
        yield { key: item.name.slice(root.length), size: item.properties.contentLength ?? 0 };
      }
    }
  }

  /** Deletes the blob; a missing one is fine. */
  async delete(key: string): Promise<void> {
    try {
      await this.client.getBlobClient(this.keyOf(key)).deleteIfExists();
    } catch (err) {
      const converted = this.error(err, 'deleting', key);
      if (isNotFound(converted)) return;
      throw converted;
    }
  }
}

/**
 * A Store on an Azure Blob Storage container, wrapped in the core retry policy (unless `retry: false`).
 *
 * ```ts
 * const store = azureStore({ container: 'app-backups', prefix: 'prod' }); // AZURE_STORAGE_CONNECTION_STRING
 * ```
 */
export function azureStore(options: AzureStoreOptions): Store {
  const store = new AzureStore(options);
  return options.retry === false ? store : retryingStore(store, options.retry ?? {});
}

const QUERY_KEYS = ['account', 'endpoint'];
const SECRET_QUERY = /^(key|accountKey|sig|secret|password|token|connectionString)$/i;

/**
 * The `azure` URL scheme: `azure:container/prefix`, with query options `account` and `endpoint`.
 * Credentials never go in the URL: they come from the environment given to `parse(url, env)`:
 * `AZURE_STORAGE_CONNECTION_STRING`, or `AZURE_STORAGE_ACCOUNT` with `AZURE_STORAGE_KEY`.
 */
export const azureDescriptor: StoreDescriptor<AzureStoreOptions> = {
  kind: 'store',
  scheme: 'azure',
  summary: 'an Azure Blob Storage container: azure:container/prefix',
  parse(url: string, env: Record<string, string | undefined> = process.env): AzureStoreOptions {
    const { container, prefix, query } = parseStoreUrl(url, {
      scheme: 'azure',
      component: COMPONENT,
      container: 'container',
      queryKeys: QUERY_KEYS,
      queryHint: '(keys go in AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING)',
    });
    if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(container)) {
      throw new InvalidArgumentError(COMPONENT, `"${container}" is not a valid container name (3-63 characters: a-z, 0-9 and single hyphens)`);
    }
    const options: AzureStoreOptions = { container };
    if (prefix) options.prefix = prefix;
    const account = query.get('account') ?? undefined;
    const endpoint = query.get('endpoint') ?? undefined;
    if (endpoint) options.endpoint = parseEndpoint(endpoint, COMPONENT, 'https://host');
    if (account) {
      options.account = account;
      if (env.AZURE_STORAGE_KEY) options.accountKey = env.AZURE_STORAGE_KEY;
    } else if (env.AZURE_STORAGE_CONNECTION_STRING) {
      options.connectionString = env.AZURE_STORAGE_CONNECTION_STRING;
      options.credentialsSource = 'AZURE_STORAGE_CONNECTION_STRING';
    } else if (env.AZURE_STORAGE_ACCOUNT) {
      options.account = env.AZURE_STORAGE_ACCOUNT;
      if (env.AZURE_STORAGE_KEY) options.accountKey = env.AZURE_STORAGE_KEY;
    }
    if (options.account && options.accountKey) options.credentialsSource = `account "${options.account}" with AZURE_STORAGE_KEY`;
    return options;
  },
  redact(url: string): string {
    return redactUrlQuery(url, SECRET_QUERY);
  },
  create(options: AzureStoreOptions): Store {
    return azureStore(options);
  },
  describe(options: AzureStoreOptions): string {
    const params = new URLSearchParams();
    // An account from AZURE_STORAGE_ACCOUNT comes back from the same environment; one from the URL stays in it.
    if (options.account && !options.connectionString) params.set('account', options.account);
    if (options.endpoint) params.set('endpoint', options.endpoint);
    return formatStoreUrl('azure', { container: options.container, prefix: options.prefix }, params);
  },
};

/** What apps load from this package: the `azure` store descriptor. */
export const plugins: PluginDescriptor[] = [azureDescriptor];
