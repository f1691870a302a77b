/**
 * A Store holds immutable objects under string keys. Keys use the characters `a-z 0-9 / - _ .`;
 * the repository layout is `config`, `keys/<id>`, `data/<2 hex>/<id>`, `index/<id>`, `snapshots/<id>`,
 * `locks/<id>`. Implementations convert their SDK's errors at the edge: a missing object is a
 * `NotFoundError`, a failed conditional create an `AlreadyExistsError`, anything else a
 * `StoreError` (transient when a retry may succeed) or a `PermissionError`.
 */
export interface StoreCapabilities {
  /** get() with a range reads only those bytes from the service (otherwise it is emulated). */
  rangeRead: boolean;
  /** put(..., { ifAbsent: true }) is enforced by the service and races are decided by it. */
  conditionalCreate: boolean;
  /** A reader never sees a partly written object. */
  atomicPut: boolean;
}

export interface ObjectInfo {
  key: string;
  size: number;
}

export interface ByteRange {
  /** First byte to return. An offset at or past the end returns an empty array. */
  offset: number;
  /** How many bytes; omitted means to the end. A range past the end is cut at the end. */
  length?: number;
}

export interface GetOptions {
  /**
   * A buffer the caller reuses from read to read, so a large read maps no fresh memory. When the
   * store uses it, get() returns a view of its first bytes; a store may ignore it and return a new
   * array, so callers compare `result.buffer` with it. Its bytes are undefined after a failed get.
   */
  into?: Uint8Array;
}

export interface PutOptions {
  /**
   * Write only if no object has this key; otherwise throw AlreadyExistsError. Stores that do not
   * declare `conditionalCreate` check with stat first (a race can then be lost silently).
   */
  ifAbsent?: boolean;
}

export interface Store {
  /** Short component name used in errors and logs: 'local', 's3', 'gcs', 'azure'. */
  readonly name: string;
  /** Where the store points, with no secrets: `local:/backups/app`, `s3:bucket/prefix`. */
  readonly location: string;
  readonly capabilities: StoreCapabilities;

  /**
   * Writes the whole object. Objects in a repository are never rewritten with other bytes, so
   * writing the same key twice with the same bytes must be harmless (callers retry puts).
   */
  put(key: string, data: Uint8Array, options?: PutOptions): Promise<void>;

  /**
   * Reads the object, or a byte range of it. Missing key: NotFoundError. A store may read into
   * `options.into` (returning a view of its first bytes) when it is large enough, or ignore it.
   */
  get(key: string, range?: ByteRange, options?: GetOptions): Promise<Uint8Array>;

  /** Size of the object. Missing key: NotFoundError. */
  stat(key: string): Promise<ObjectInfo>;

  /**
   * Every object whose key starts with `prefix`, in no particular order, each once. A prefix that
   * matches nothing yields nothing (no error). Pagination is the store's business.
   */
  list(prefix: string): AsyncIterable<ObjectInfo>;

  /** Removes the object. Deleting a missing key is not an error (deletes are retried). */
  delete(key: string): Promise<void>;

  /**
   * Creates the container (directory, bucket) when it is missing and the credentials allow it.
   * Called by `init`; a no-op where there is nothing to create.
   */
  create?(): Promise<void>;

  /** Releases clients and sockets. */
  close?(): Promise<void>;
}
