import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type BucketLocationConstraint,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
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

// This package pins an SDK release that supports Node 20; its notice about later releases needing
// Node 22 would only clutter every command's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const COMPONENT = 's3';
const MiB = 1024 * 1024;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3StoreOptions {
  /** The bucket. Required. */
  bucket: string;
  /** A folder inside the bucket that holds the repository, without leading or trailing `/`. Default: the bucket's root. */
  prefix?: string;
  /** The region. Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1` (requests follow redirects to the bucket's region). */
  region?: string;
  /** Endpoint of an S3-compatible service (MinIO, R2, Wasabi, Ceph), e.g. `https://minio.local:9000`. Default: AWS. */
  endpoint?: string;
  /** Address buckets as `endpoint/bucket` instead of `bucket.endpoint`. Default: true when `endpoint` is set, else false. */
  forcePathStyle?: boolean;
  /** Static credentials. Default: the AWS SDK's chain (AWS_ACCESS_KEY_ID and friends, `profile`, SSO, instance or task roles). */
  credentials?: S3Credentials;
  /** A named profile from `~/.aws/config` and `~/.aws/credentials`. Default: `AWS_PROFILE`, else `default`. */
  profile?: string;
  /** Where the credentials came from, named in permission errors. Default: worked out from the options and the environment. */
  credentialsSource?: string;
  /**
   * Use conditional writes (`If-None-Match: *`) for put-if-absent, so the service decides races.
   * Default true (AWS S3, recent MinIO and R2 have them). Set false for services that ignore the
   * header (s3rver, older Ceph): put-if-absent then checks with HEAD first and a race can be lost.
   */
  conditionalWrites?: boolean;
  /**
   * When the SDK adds and checks CRC checksums on requests and responses. Default `WHEN_SUPPORTED` on AWS,
   * `WHEN_REQUIRED` with a custom `endpoint` (many S3-compatible services store the aws-chunked framing otherwise).
   */
  checksums?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** Objects of at least this many bytes are uploaded in parts. Default 16 MiB. */
  multipartThreshold?: number;
  /** Size of each part of a multipart upload. Default 8 MiB (at least 5 MiB). */
  partSize?: number;
  /** Parts uploaded at once. Default 4. */
  partConcurrency?: number;
  /** How failed requests are retried (see `@strata/core` RetryPolicy), or false for no retries. Default: the core defaults. */
  retry?: RetryPolicy | false;
  /**
   * What the service guarantees, where an S3-compatible one falls short of AWS S3: e.g.
   * `{ atomicPut: false }` for s3rver, whose readers may see an object while it is written.
   */
  capabilities?: Partial<StoreCapabilities>;
  /** A configured client to use instead of building one (its settings win over the options above). */
  client?: S3Client;
}

const TRANSIENT_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeoutException', 'OperationAborted']);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/**
 * A Store on an S3 bucket. Keys live under `prefix/`. Objects below `multipartThreshold` go in
 * one PUT; larger ones in parts that are views of the caller's array (the object is never held
 * twice). Reads fill one buffer of the object's size. Every call is retried by the core retry
 * policy unless `retry: false`; the SDK's own retries are off so one policy governs.
 */
export class S3Store implements Store {
  readonly name = COMPONENT;
  readonly location: string;
  readonly capabilities: StoreCapabilities;
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly conditionalWrites: boolean;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly region: string;
  private readonly credentialsSource: string;

  constructor(options: S3StoreOptions) {
    if (!options || typeof options.bucket !== 'string' || options.bucket.length === 0) {
      throw new InvalidArgumentError(COMPONENT, 'no bucket given; pass { bucket } or a URL like s3:bucket/prefix');
    }
    this.bucket = options.bucket;
    this.prefix = trimSlashes(options.prefix ?? '');
    this.region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    this.conditionalWrites = options.conditionalWrites ?? true;
    this.multipartThreshold = options.multipartThreshold ?? 16 * MiB;
    this.partSize = Math.max(5 * MiB, options.partSize ?? 8 * MiB);
    this.partConcurrency = options.partConcurrency ?? 4;
    this.credentialsSource = options.credentialsSource ?? describeCredentialsSource(options);
    this.capabilities = { rangeRead: true, conditionalCreate: this.conditionalWrites, atomicPut: true, ...options.capabilities };
    this.location = s3Descriptor.describe({ bucket: this.bucket, prefix: this.prefix, endpoint: options.endpoint });
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      const checksums = options.checksums ?? (options.endpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED');
      const config: S3ClientConfig = {
        region: this.region,
        endpoint: options.endpoint,
        forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
        credentials: options.credentials && { ...options.credentials },
        profile: options.profile,
        followRegionRedirects: true,
        requestChecksumCalculation: checksums,
        responseChecksumValidation: checksums,
        // The core retry policy retries; the SDK's retries would multiply with it.
        maxAttempts: 1,
      };
      this.client = new S3Client(config);
      this.ownsClient = true;
    }
  }

  private keyOf(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private where(): string {
    return `bucket "${this.bucket}"${this.prefix ? ` (prefix "${this.prefix}")` : ''}`;
  }

  /** Converts an SDK error to a Strata error at the edge. */
  private error(err: unknown, action: string, key?: string): Error {
    if (isStrataError(err)) return err;
    const e = (err ?? {}) as SdkError;
    const status = e.$metadata?.httpStatusCode;
    const name = e.name ?? '';
    const what = key === undefined ? this.where() : `"${key}" in ${this.where()}`;
    const detail = [status, name, e.code, e.message].filter((x) => x !== undefined && x !== '' && x !== 'Error' && x !== 'UnknownError').join(' ');
    if (name === 'NoSuchBucket') {
      return new StoreError(COMPONENT, `${this.where()} does not exist (region ${this.region}); create it with \`strata init\` or check the bucket name and region`, { cause: err });
    }
    if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
      return new NotFoundError(COMPONENT, `object ${what} does not exist`, { cause: err });
    }
    if (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || status === 412) {
      return new AlreadyExistsError(COMPONENT, `object ${what} already exists; it is never overwritten`, { cause: err });
    }
    if (status === 401 || status === 403 || ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled', 'CredentialsProviderError'].includes(name)) {
      return new PermissionError(COMPONENT, `${action} ${what} was refused (${detail}); check that the credentials from ${this.credentialsSource} are valid and allow it`, { cause: err });
    }
    const transient =
      TRANSIENT_NAMES.has(name) ||
      NETWORK_ERROR_CODES.has(e.code ?? '') ||
      NETWORK_ERROR_CODES.has(name) ||
      e.$fault === 'server' ||
      isTransientStatus(status) ||
      e.$retryable !== undefined ||
      NETWORK_ERROR_CODES.has(((err as { cause?: SdkError }).cause?.code) ?? '');
    return new StoreError(COMPONENT, `${action} ${what} failed (${detail || e.code || String(e.message ?? err)})${transient ? '; will retry' : ''}`, {
      cause: err,
      transient,
    });
  }

  /**
   * Makes the bucket when it is missing (in `region`). An existing bucket is left alone, and so is
   * one that we may not inspect (HEAD refused) but may use.
   */
  async create(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      const e = err as SdkError;
      if (e.$metadata?.httpStatusCode !== 404 && e.name !== 'NotFound' && e.name !== 'NoSuchBucket') {
        const converted = this.error(err, 'checking', undefined);
        if (converted instanceof PermissionError) return;
        throw converted;
      }
    }
    try {
      await this.client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          CreateBucketConfiguration: this.region === 'us-east-1' ? undefined : { LocationConstraint: this.region as BucketLocationConstraint },
        }),
      );
    } catch (err) {
      const name = (err as SdkError).name;
      if (name === 'BucketAlreadyOwnedByYou') return;
      if (name === 'BucketAlreadyExists') {
        throw new PermissionError(COMPONENT, `bucket "${this.bucket}" belongs to another account; bucket names are global, choose another`, { cause: err });
      }
      throw this.error(err, 'creating', undefined);
    }
  }

  /**
   * Writes the object. With `ifAbsent` and conditional writes, S3 refuses the write when the key
   * exists (412) and the caller gets AlreadyExistsError; without them a HEAD checks first.
   */
  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const Key = this.keyOf(key);
    if (options.ifAbsent && !this.conditionalWrites) {
      const exists = await this.stat(key).then(
        () => true,
        (err) => {
          if (isNotFound(err)) return false;
          throw err;
        },
      );
      if (exists) throw new AlreadyExistsError(COMPONENT, `object "${key}" in ${this.where()} already exists; it is never overwritten`);
    }
    const IfNoneMatch = options.ifAbsent && this.conditionalWrites ? '*' : undefined;
    // A Buffer view over the caller's bytes: no copy, and the SDK streams it as is.
    const Body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      if (data.byteLength < this.multipartThreshold) {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body, ContentLength: data.byteLength, IfNoneMatch }));
      } else {
        const upload = new Upload({
          client: this.client,
          params: { Bucket: this.bucket, Key, Body, ContentLength: data.byteLength, IfNoneMatch },
          partSize: this.partSize,
          queueSize: this.partConcurrency,
          leavePartsOnError: false,
        });
        await upload.done();
      }
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
    // A range from 0 to the end is the whole object (and an empty object has no byte 0 to ask for).
    if (range && range.offset === 0 && range.length === undefined) range = undefined;
    const Range = range ? `bytes=${range.offset}-${range.length === undefined ? '' : range.offset + range.length - 1}` : undefined;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key), Range }));
      return await readBody(res.Body as AsyncIterable<Uint8Array>, res.ContentLength ?? 0, COMPONENT, `"${key}" in ${this.where()}`);
    } catch (err) {
      const e = err as SdkError;
      if (range && (e.name === 'InvalidRange' || e.$metadata?.httpStatusCode === 416)) return new Uint8Array(0);
      throw this.error(err, 'reading', key);
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
      return { key, size: res.ContentLength ?? 0 };
    } catch (err) {
      throw this.error(err, 'reading', key);
    }
  }

  /** Lists with ListObjectsV2, 1,000 keys a page. */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const root = this.prefix ? `${this.prefix}/` : '';
    let ContinuationToken: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: root + prefix, ContinuationToken }));
      } catch (err) {
        throw this.error(err, 'listing', prefix);
      }
      for (const o of res.Contents ?? []) {
        if (!o.Key) continue;
        yield { key: o.Key.slice(root.length), size: o.Size ?? 0 };
      }
      ContinuationToken = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  /** Deletes the object; S3 answers success for a missing key too. */
  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
    } catch (err) {
      const converted = this.error(err, 'deleting', key);
      if (isNotFound(converted)) return;
      throw converted;
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}

function describeCredentialsSource(options: S3StoreOptions): string {
  if (options.credentials) return 'the store options';
  if (options.profile) return `profile "${options.profile}" in ~/.aws`;
  if (process.env.AWS_ACCESS_KEY_ID) return 'AWS_ACCESS_KEY_ID in the environment';
  if (process.env.AWS_PROFILE) return `profile "${process.env.AWS_PROFILE}" (AWS_PROFILE) in ~/.aws`;
  if (process.env.AWS_WEB_IDENTITY_TOKEN_FILE) return 'the web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)';
  return 'the AWS default chain (~/.aws profile "default", SSO, or an instance/task role)';
}

/**
 * A Store on an S3 bucket, wrapped in the core retry policy (unless `retry: false`).
 *
 * ```ts
 * const store = s3Store({ bucket: 'app-backups', prefix: 'prod' });
 * ```
 */
export function s3Store(options: S3StoreOptions): Store {
  const store = new S3Store(options);
  return options.retry === false ? store : retryingStore(store, options.retry ?? {});
}

const QUERY_KEYS = ['region', 'endpoint', 'pathStyle', 'profile', 'conditionalWrites', 'checksums', 'partSize'];
const SECRET_QUERY = /^(secret|secretAccessKey|accessKeyId|sessionToken|token|key|password)$/i;

/**
 * The `s3` URL scheme:
 * - `s3:bucket/prefix` (AWS; region from `?region=` or AWS_REGION)
 * - `s3:https://host:port/bucket/prefix` (an S3-compatible service, path-style addressing)
 * - query options: `region`, `endpoint`, `pathStyle=1|0`, `profile`, `conditionalWrites=1|0`,
 *   `checksums=when_supported|when_required`, `partSize` (bytes).
 * Environment (from `parse(url, env)`): `STRATA_S3_ENDPOINT`, `STRATA_S3_PATH_STYLE`,
 * `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_PROFILE`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`.
 */
export const s3Descriptor: StoreDescriptor<S3StoreOptions> = {
  kind: 'store',
  scheme: 's3',
  summary: 'an Amazon S3 or S3-compatible bucket: s3:bucket/prefix or s3:https://host:port/bucket/prefix',
  parse(url: string, env: Record<string, string | undefined> = process.env): S3StoreOptions {
    const parsed = parseStoreUrl(url, { scheme: 's3', component: COMPONENT, container: 'bucket', queryKeys: QUERY_KEYS, endpointInPath: true });
    const { container: bucket, prefix, query } = parsed;
    // An endpoint in the path is an S3-compatible service: path-style addressing unless the query says otherwise.
    const pathStyleFromUrl = parsed.endpoint ? true : undefined;
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new InvalidArgumentError(COMPONENT, `"${bucket}" is not a valid bucket name (3-63 characters: a-z, 0-9, dots and hyphens)`);
    }
    let endpoint = parsed.endpoint ?? query.get('endpoint') ?? env.STRATA_S3_ENDPOINT ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? undefined;
    if (endpoint) endpoint = parseEndpoint(endpoint, COMPONENT);
    const options: S3StoreOptions = { bucket };
    if (prefix) options.prefix = prefix;
    if (endpoint) options.endpoint = endpoint;
    const pathStyle = parseFlag(query.get('pathStyle'), 'pathStyle', COMPONENT) ?? pathStyleFromUrl ?? parseFlag(env.STRATA_S3_PATH_STYLE, 'STRATA_S3_PATH_STYLE', COMPONENT);
    // S3-compatible services mostly want path-style addressing.
    if (endpoint) options.forcePathStyle = pathStyle ?? true;
    else if (pathStyle) options.forcePathStyle = true;
    const region = query.get('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (region) options.region = region;
    const profile = query.get('profile') ?? env.AWS_PROFILE;
    if (profile) options.profile = profile;
    const conditionalWrites = parseFlag(query.get('conditionalWrites'), 'conditionalWrites', COMPONENT);
    if (conditionalWrites !== undefined) options.conditionalWrites = conditionalWrites;
    const checksums = query.get('checksums');
    if (checksums) {
      const c = checksums.toUpperCase();
      if (c !== 'WHEN_SUPPORTED' && c !== 'WHEN_REQUIRED') throw new InvalidArgumentError(COMPONENT, `checksums must be when_supported or when_required, not "${checksums}"`);
      options.checksums = c;
    }
    const partSize = query.get('partSize');
    if (partSize) {
      const n = Number(partSize);
      if (!Number.isInteger(n) || n < 5 * MiB) throw new InvalidArgumentError(COMPONENT, `partSize must be a whole number of bytes, at least ${5 * MiB}`);
      options.partSize = n;
    }
    if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY && !query.get('profile')) {
      options.credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY };
      if (env.AWS_SESSION_TOKEN) options.credentials.sessionToken = env.AWS_SESSION_TOKEN;
      options.credentialsSource = 'AWS_ACCESS_KEY_ID in the environment';
    }
    return options;
  },
  redact(url: string): string {
    return redactUrlQuery(url.replace(/^(s3:https?:\/\/)([^@/]+)@/i, '$1***@'), SECRET_QUERY);
  },
  create(options: S3StoreOptions): Store {
    return s3Store(options);
  },
  describe(options: S3StoreOptions): string {
    const params = new URLSearchParams();
    if (options.region) params.set('region', options.region);
    if (options.endpoint && options.forcePathStyle === false) params.set('pathStyle', '0');
    if (!options.endpoint && options.forcePathStyle) params.set('pathStyle', '1');
    if (options.profile) params.set('profile', options.profile);
    if (options.conditionalWrites !== undefined) params.set('conditionalWrites', options.conditionalWrites ? '1' : '0');
    if (options.checksums) params.set('checksums', options.checksums.toLowerCase());
    if (options.partSize) params.set('partSize', String(options.partSize));
    return formatStoreUrl('s3', { container: options.bucket, prefix: options.prefix, endpoint: options.endpoint }, params);
  },
};

/** What apps load from this package: the `s3` store descriptor. */
export const plugins: PluginDescriptor[] = [s3Descriptor];
