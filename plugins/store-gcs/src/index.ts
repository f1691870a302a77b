import { Storage, type Bucket, type StorageOptions } from '@google-cloud/storage';
import type { IncomingMessage } from 'node:http';
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
  parseFlag,
  parseStoreUrl,
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

const COMPONENT = 'gcs';
const MiB = 1024 * 1024;

export interface GcsStoreOptions {
  /** The bucket. Required. */
  bucket: string;
  /** A folder inside the bucket that holds the repository, without leading or trailing `/`. Default: the bucket's root. */
  prefix?: string;
  /** The Google Cloud project, needed by create() to make a bucket. Default: `GOOGLE_CLOUD_PROJECT`, else the one of the credentials. */
  projectId?: string;
  /** A service account key file. Default: `GOOGLE_APPLICATION_CREDENTIALS`, else Application Default Credentials. */
  keyFilename?: string;
  /** Service account credentials given inline (`client_email`, `private_key`). */
  credentials?: { client_email: string; private_key: string };
  /** Base URL of the JSON API, for emulators and private endpoints, e.g. `http://127.0.0.1:4443`. Default: Google's. */
  endpoint?: string;
  /** Send no credentials. Default: true when `endpoint` is on loopback (an emulator), else false. */
  anonymous?: boolean;
  /** Objects of at least this many bytes use a resumable upload. Default 8 MiB. */
  resumableThreshold?: number;
  /** Send resumable uploads in chunks of this many bytes (a multiple of 256 KiB). Default: one streamed request. */
  chunkSize?: number;
  /** Location of a bucket that create() makes. Default `US`. */
  bucketLocation?: string;
  /** Where the credentials came from, named in permission errors. Default: worked out from the options and the environment. */
  credentialsSource?: string;
  /** How failed requests are retried (see `@strata/core` RetryPolicy), or false for no retries. Default: the core defaults. */
  retry?: RetryPolicy | false;
  /** A configured client to use instead of building one. */
  storage?: Storage;
}

/** Checksum mismatches between client and server: bytes were damaged in transit, a retry may succeed. */
const CHECKSUM_CODES = new Set(['FILE_NO_UPLOAD', 'CONTENT_DOWNLOAD_MISMATCH', 'MD5_NOT_AVAILABLE']);

function isLoopback(endpoint: string): boolean {
  try {
    const host = new URL(endpoint).hostname;
    return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
  } catch {
    return false;
  }
}

interface ApiErrorLike {
  code?: number | string;
  status?: number;
  message?: string;
  response?: { status?: number };
  errors?: { message?: string; reason?: string }[];
}

/**
 * A Store on a Google Cloud Storage bucket. Keys live under `prefix/`. Small objects go up in one
 * multipart request, large ones as a resumable upload streamed from the caller's bytes (no copy);
 * put-if-absent is `ifGenerationMatch=0`, decided by the service. Uploads and whole reads are
 * checked against the object's MD5 by the client. Every call is retried by the core retry policy unless
 * `retry: false`; the client's own retries are off.
 */
export class GcsStore implements Store {
  readonly name = COMPONENT;
  readonly location: string;
  readonly capabilities: StoreCapabilities = { rangeRead: true, conditionalCreate: true, atomicPut: true };
  readonly bucket: string;
  readonly prefix: string;
  readonly storage: Storage;
  private readonly bucketRef: Bucket;
  private readonly resumableThreshold: number;
  private readonly chunkSize?: number;
  private readonly bucketLocation: string;
  private readonly credentialsSource: string;

  constructor(options: GcsStoreOptions) {
    if (!options || typeof options.bucket !== 'string' || options.bucket.length === 0) {
      throw new InvalidArgumentError(COMPONENT, 'no bucket given; pass { bucket } or a URL like gs:bucket/prefix');
    }
    this.bucket = options.bucket;
    this.prefix = trimSlashes(options.prefix ?? '');
    this.resumableThreshold = options.resumableThreshold ?? 8 * MiB;
    this.chunkSize = options.chunkSize;
    this.bucketLocation = options.bucketLocation ?? 'US';
    const anonymous = options.anonymous ?? (options.endpoint !== undefined && isLoopback(options.endpoint));
    this.credentialsSource = options.credentialsSource ?? describeCredentialsSource(options, anonymous);
    this.location = gcsDescriptor.describe({ bucket: this.bucket, prefix: this.prefix, endpoint: options.endpoint });
    if (options.storage) {
      this.storage = options.storage;
    } else {
      const config: StorageOptions = {
        projectId: options.projectId,
        keyFilename: options.keyFilename,
        credentials: options.credentials,
        // The core retry policy retries; the client's retries would multiply with it.
        retryOptions: { autoRetry: false, maxRetries: 0 },
      };
      if (options.endpoint) {
        config.apiEndpoint = options.endpoint;
        config.useAuthWithCustomEndpoint = !anonymous;
      }
      this.storage = new Storage(config);
    }
    this.bucketRef = this.storage.bucket(this.bucket);
  }

  private keyOf(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private where(): string {
    return `bucket "${this.bucket}"${this.prefix ? ` (prefix "${this.prefix}")` : ''}`;
  }

  /** Converts a client error to a Strata error at the edge. */
  private error(err: unknown, action: string, key?: string): Error {
    if (isStrataError(err)) return err;
    const e = (err ?? {}) as ApiErrorLike;
    const status = typeof e.code === 'number' ? e.code : (e.status ?? e.response?.status);
    const code = typeof e.code === 'string' ? e.code : undefined;
    const message = e.message ?? String(err);
    const what = key === undefined ? this.where() : `"${key}" in ${this.where()}`;
    if (status === 404 && /bucket does not exist/i.test(message)) {
      return new StoreError(COMPONENT, `${this.where()} does not exist; create it with \`strata init\` or check the bucket name`, { cause: err });
    }
    if (status === 404) return new NotFoundError(COMPONENT, `object ${what} does not exist`, { cause: err });
    if (status === 412) return new AlreadyExistsError(COMPONENT, `object ${what} already exists; it is never overwritten`, { cause: err });
    // The client reads and signs with the credentials before its first request: their failures are
    // local (a file, OpenSSL, no credentials at all) and must not reach the user raw.
    const credentialsFile = (err as { path?: unknown })?.path;
    if ((code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') && typeof credentialsFile === 'string') {
      return new PermissionError(COMPONENT, `the credentials file ${credentialsFile} cannot be read (${code}); point GOOGLE_APPLICATION_CREDENTIALS or the keyFile option at a service account key file`, { cause: err });
    }
    if (code?.startsWith('ERR_OSSL') || /DECODER routines|PEM routines|private key/i.test(message)) {
      return new PermissionError(COMPONENT, `the private key of the credentials from ${this.credentialsSource} cannot be used; download the service account key file again`, { cause: err });
    }
    if (/could not load the default credentials/i.test(message)) {
      return new PermissionError(COMPONENT, 'no Google credentials were found; set GOOGLE_APPLICATION_CREDENTIALS to a service account key file or run "gcloud auth application-default login" (anonymous=1 for an emulator)', { cause: err });
    }
    if (status === 401 || status === 403) {
      return new PermissionError(COMPONENT, `${action} ${what} was refused (${status} ${message}); check that the credentials from ${this.credentialsSource} are valid and allow it`, {
        cause: err,
      });
    }
    const causeCode = (err as { cause?: { code?: string } })?.cause?.code;
    const transient =
      isTransientStatus(status) ||
      NETWORK_ERROR_CODES.has(code ?? '') ||
      NETWORK_ERROR_CODES.has(causeCode ?? '') ||
      CHECKSUM_CODES.has(code ?? '') ||
      /ECONNRESET|socket hang up|ETIMEDOUT|premature close/i.test(message);
    return new StoreError(COMPONENT, `${action} ${what} failed (${[status, code, message].filter(Boolean).join(' ')})${transient ? '; will retry' : ''}`, {
      cause: err,
      transient,
    });
  }

  /** Makes the bucket (in `bucketLocation`) when it is missing; an existing one is left alone. */
  async create(): Promise<void> {
    try {
      const [exists] = await this.bucketRef.exists();
      if (exists) return;
    } catch (err) {
      const converted = this.error(err, 'checking', undefined);
      // Credentials that may use a bucket but not read its metadata: assume it is there.
      if (converted instanceof PermissionError) return;
      throw converted;
    }
    try {
      await this.storage.createBucket(this.bucket, { location: this.bucketLocation });
    } catch (err) {
      const status = (err as ApiErrorLike).code;
      if (status === 409) return;
      throw this.error(err, 'creating', undefined);
    }
  }

  /** Writes the object; with `ifAbsent` the service refuses to replace an existing one (412). */
  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const file = this.bucketRef.file(this.keyOf(key));
    const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      await file.save(body, {
        resumable: data.byteLength >= this.resumableThreshold,
        chunkSize: this.chunkSize,
        contentType: 'application/octet-stream',
        // MD5 through node:crypto is several times faster than the client's CRC-32C in JavaScript,
        // and every object here is uploaded whole (never composed), so it always has an MD5.
        validation: 'md5',
        preconditionOpts: options.ifAbsent ? { ifGenerationMatch: 0 } : undefined,
      });
    } catch (err) {
      throw this.error(err, 'writing', key);
    }
  }

  /** Reads the object or a range; a range starting at or past the end gives an empty array. */
  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    if (range && range.length === 0) {
      await this.stat(key);
      return new Uint8Array(0);
    }
    // A range from 0 to the end is the whole object, which the client can check by MD5.
    if (range && range.offset === 0 && range.length === undefined) range = undefined;
    const file = this.bucketRef.file(this.keyOf(key));
    const stream = range
      ? file.createReadStream({ start: range.offset, end: range.length === undefined ? undefined : range.offset + range.length - 1, validation: false })
      : file.createReadStream({ validation: 'md5' });
    let out: Buffer | undefined;
    const chunks: Buffer[] = [];
    let filled = 0;
    stream.on('response', (res: IncomingMessage) => {
      const length = Number(res.headers?.['content-length']);
      // One buffer of the announced size, so a large object is not held twice.
      if (Number.isSafeInteger(length) && length >= 0) out = Buffer.allocUnsafeSlow(length);
    });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (out && filled + chunk.length <= out.length) out.set(chunk, filled);
        else chunks.push(chunk);
        filled += chunk.length;
      }
    } catch (err) {
      const e = err as ApiErrorLike;
      if (range && (e.code === 416 || e.status === 416 || e.response?.status === 416)) return new Uint8Array(0);
      throw this.error(err, 'reading', key);
    }
    if (out && chunks.length === 0) {
      if (filled !== out.length) {
        throw new StoreError(COMPONENT, `reading "${key}" in ${this.where()} was cut short (${filled} of ${out.length} bytes); will retry`, { transient: true });
      }
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    }
    const all = Buffer.concat(out ? [out.subarray(0, Math.min(filled, out.length)), ...chunks] : chunks);
    return new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
  }

  async stat(key: string): Promise<ObjectInfo> {
    try {
      const [metadata] = await this.bucketRef.file(this.keyOf(key)).getMetadata();
      return { key, size: Number(metadata.size ?? 0) };
    } catch (err) {
      throw this.error(err, 'reading', key);
    }
  }

  /** Lists 1,000 objects a page. */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const root = this.prefix ? `${this.prefix}/` : '';
    let pageToken: string | undefined;
    do {
      let files;
      let next: { pageToken?: string } | null | undefined;
      try {
        [files, next] = await this.bucketRef.getFiles({ prefix: root + prefix, autoPaginate: false, maxResults: 1000, pageToken });
      } catch (err) {
        throw this.error(err, 'listing', prefix);
      }
      for (const f of files) yield { key: f.name.slice(root.length), size: Number(f.metadata.size ?? 0) };
      pageToken = next?.pageToken;
    } while (pageToken);
  }

  /** Deletes the object; a missing one is fine. */
  async delete(key: string): Promise<void> {
    try {
      await this.bucketRef.file(this.keyOf(key)).delete({ ignoreNotFound: true });
    } catch (err) {
      const converted = this.error(err, 'deleting', key);
      if (isNotFound(converted)) return;
      throw converted;
    }
  }
}

function describeCredentialsSource(options: GcsStoreOptions, anonymous: boolean): string {
  if (anonymous) return 'nowhere (anonymous requests to the endpoint)';
  if (options.credentials) return 'the store options';
  if (options.keyFilename) return `the key file ${options.keyFilename}`;
  if (process.env.GOOGLE_APPLICATION_CREDENTIALS) return `the key file in GOOGLE_APPLICATION_CREDENTIALS (${process.env.GOOGLE_APPLICATION_CREDENTIALS})`;
  return 'Application Default Credentials (gcloud auth application-default login, or the metadata server)';
}

/**
 * A Store on a Google Cloud Storage bucket, wrapped in the core retry policy (unless `retry: false`).
 *
 * ```ts
 * const store = gcsStore({ bucket: 'app-backups', prefix: 'prod' });
 * ```
 */
export function gcsStore(options: GcsStoreOptions): Store {
  const store = new GcsStore(options);
  return options.retry === false ? store : retryingStore(store, options.retry ?? {});
}

const QUERY_KEYS = ['project', 'endpoint', 'keyFile', 'anonymous', 'location'];
const SECRET_QUERY = /^(private_key|privateKey|token|key|secret|password)$/i;

/**
 * The `gs` URL scheme: `gs:bucket/prefix` (also `gs://bucket/prefix`), with query options
 * `project`, `endpoint`, `keyFile`, `anonymous=1|0`, `location` (for create()).
 * Environment (from `parse(url, env)`): `STRATA_GCS_ENDPOINT`, `GOOGLE_CLOUD_PROJECT`
 * (or `GCLOUD_PROJECT`), `GOOGLE_APPLICATION_CREDENTIALS`.
 */
export const gcsDescriptor: StoreDescriptor<GcsStoreOptions> = {
  kind: 'store',
  scheme: 'gs',
  summary: 'a Google Cloud Storage bucket: gs:bucket/prefix',
  parse(url: string, env: Record<string, string | undefined> = process.env): GcsStoreOptions {
    const { container: bucket, prefix, query } = parseStoreUrl(url, { scheme: 'gs', component: COMPONENT, container: 'bucket', queryKeys: QUERY_KEYS });
    if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket)) {
      throw new InvalidArgumentError(COMPONENT, `"${bucket}" is not a valid bucket name (3-63 characters: a-z, 0-9, dots, hyphens and underscores)`);
    }
    const options: GcsStoreOptions = { bucket };
    if (prefix) options.prefix = prefix;
    const endpoint = query.get('endpoint') ?? env.STRATA_GCS_ENDPOINT;
    if (endpoint) options.endpoint = parseEndpoint(endpoint, COMPONENT, 'http(s)://host:port');
    const project = query.get('project') ?? env.GOOGLE_CLOUD_PROJECT ?? env.GCLOUD_PROJECT;
    if (project) options.projectId = project;
    const keyFile = query.get('keyFile') ?? env.GOOGLE_APPLICATION_CREDENTIALS;
    if (keyFile) options.keyFilename = keyFile;
    const anonymous = parseFlag(query.get('anonymous'), 'anonymous', COMPONENT);
    if (anonymous !== undefined) options.anonymous = anonymous;
    const location = query.get('location');
    if (location) options.bucketLocation = location;
    return options;
  },
  redact(url: string): string {
    return redactUrlQuery(url, SECRET_QUERY);
  },
  create(options: GcsStoreOptions): Store {
    return gcsStore(options);
  },
  describe(options: GcsStoreOptions): string {
    const params = new URLSearchParams();
    if (options.projectId) params.set('project', options.projectId);
    if (options.endpoint) params.set('endpoint', options.endpoint);
    if (options.keyFilename) params.set('keyFile', options.keyFilename);
    if (options.anonymous !== undefined) params.set('anonymous', options.anonymous ? '1' : '0');
    if (options.bucketLocation) params.set('location', options.bucketLocation);
    return formatStoreUrl('gs', { container: options.bucket, prefix: options.prefix }, params);
  },
};

/** What apps load from this package: the `gs` store descriptor. */
export const plugins: PluginDescriptor[] = [gcsDescriptor];
