/**
 * Typed errors shared by every Strata package. Each has a stable `code` (the CLI maps codes to exit
 * codes), names the component that raised it, keeps the underlying `cause`, and says whether retrying
 * the same operation may succeed (`transient`).
 */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CORRUPT'
  | 'WRONG_PASSWORD'
  | 'LOCKED'
  | 'REPOSITORY_NOT_FOUND'
  | 'REPOSITORY_EXISTS'
  | 'INVALID_ARGUMENT'
  | 'CONFIG'
  | 'PERMISSION'
  | 'STORE'
  | 'UNSUPPORTED'
  | 'PARTIAL'
  | 'ABORTED';

export interface StrataErrorOptions {
  cause?: unknown;
  /** True when retrying the same call may succeed (throttling, 5xx, timeouts, resets). */
  transient?: boolean;
}

export class StrataError extends Error {
  readonly code: ErrorCode;
  /** The component that raised the error: 'local', 's3', 'engine', 'zstd', ... */
  readonly component: string;
  readonly transient: boolean;

  constructor(code: ErrorCode, component: string, message: string, options: StrataErrorOptions = {}) {
    super(`${component}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.component = component;
    this.transient = options.transient ?? false;
  }
}

/** An object, key or snapshot does not exist. Stores throw it from get/stat of a missing key. */
export class NotFoundError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('NOT_FOUND', component, message, options);
  }
}

/** A conditional create found the object already there. */
export class AlreadyExistsError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('ALREADY_EXISTS', component, message, options);
  }
}

/** Bytes failed a check: authentication, a hash, a decoder, a format. Never transient. */
export class CorruptError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('CORRUPT', component, message, { ...options, transient: false });
  }
}

export class WrongPasswordError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('WRONG_PASSWORD', component, message, options);
  }
}

/** The repository is held by someone else; the message names the holder. */
export class LockedError extends StrataError {
  readonly holder?: unknown;
  constructor(component: string, message: string, options?: StrataErrorOptions & { holder?: unknown }) {
    super('LOCKED', component, message, options);
    this.holder = options?.holder;
  }
}

export class RepositoryNotFoundError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('REPOSITORY_NOT_FOUND', component, message, options);
  }
}

export class RepositoryExistsError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('REPOSITORY_EXISTS', component, message, options);
  }
}

/** A caller passed something unusable: a bad option, URL or argument. */
export class InvalidArgumentError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('INVALID_ARGUMENT', component, message, options);
  }
}

/** A configuration file or object failed validation; the message names the key. */
export class ConfigError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('CONFIG', component, message, options);
  }
}

/** Credentials were refused or lack a permission. Permanent. */
export class PermissionError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('PERMISSION', component, message, { ...options, transient: false });
  }
}

/** Any other store failure; `transient` says whether the retry policy may try again. */
export class StoreError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('STORE', component, message, options);
  }
}

export class UnsupportedError extends StrataError {
  constructor(component: string, message: string, options?: StrataErrorOptions) {
    super('UNSUPPORTED', component, message, options);
  }
}

export function isStrataError(err: unknown): err is StrataError {
  return err instanceof StrataError || (typeof err === 'object' && err !== null && typeof (err as StrataError).code === 'string' && typeof (err as StrataError).component === 'string' && (err as Error).name?.endsWith('Error'));
}

/** True for errors of the given code, also across duplicated copies of this package. */
export function hasCode(err: unknown, code: ErrorCode): boolean {
  return isStrataError(err) && err.code === code;
}

export function isNotFound(err: unknown): boolean {
  return hasCode(err, 'NOT_FOUND');
}
