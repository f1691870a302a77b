import { InvalidArgumentError, StoreError } from './errors.js';

/**
 * Helpers for store plugins whose repository URLs look like `scheme:container/prefix?option=value`
 * (S3, GCS and Azure share this shape), and for reading a response body of known size.
 */

/** Drops leading and trailing slashes: `/a/b/` -> `a/b`. */
export function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

export interface StoreUrlSpec {
  /** The scheme without the colon: 's3', 'gs', 'azure'. */
  scheme: string;
  /** The component named in errors: 's3', 'gcs', 'azure'. */
  component: string;
  /** What the first path segment is called: 'bucket' or 'container'. */
  container: string;
  /** Query options the scheme knows; any other is an error. */
  queryKeys: readonly string[];
  /** Appended to the unknown-option error, e.g. where secrets go instead. */
  queryHint?: string;
  /** Accept a service endpoint before the path: `s3:https://host:port/bucket/prefix`. */
  endpointInPath?: boolean;
}

export interface StoreUrl {
  /** The bucket or container, URL-decoded; never empty. */
  container: string;
  /** The folder inside it, URL-decoded, without leading or trailing `/`; '' for the root. */
  prefix: string;
  query: URLSearchParams;
  /** The endpoint written before the path (only with `endpointInPath`). */
  endpoint?: string;
}

/**
 * Splits `scheme:container/prefix?query` (also `scheme://container/...`). Throws
 * InvalidArgumentError for another scheme, an unknown query option or a missing container;
 * checking the container's name is left to the store.
 */
export function parseStoreUrl(url: string, spec: StoreUrlSpec): StoreUrl {
  const { scheme, component, container: word } = spec;
  const example = `${scheme}:${word}/prefix`;
  if (!url.startsWith(`${scheme}:`)) throw new InvalidArgumentError(component, `repository URL "${url}" does not start with ${scheme}:; use ${example}`);
  let rest = url.slice(scheme.length + 1);
  let endpoint: string | undefined;
  const endpointMatch = spec.endpointInPath ? rest.match(/^(https?:\/\/[^/?#]+)(.*)$/i) : null;
  if (endpointMatch) {
    endpoint = endpointMatch[1];
    rest = endpointMatch[2];
  } else if (rest.startsWith('//')) {
    rest = rest.slice(2);
  }
  let query = new URLSearchParams();
  const q = rest.indexOf('?');
  if (q >= 0) {
    query = new URLSearchParams(rest.slice(q + 1));
    rest = rest.slice(0, q);
  }
  for (const k of query.keys()) {
    if (!spec.queryKeys.includes(k)) {
      throw new InvalidArgumentError(component, `unknown option "${k}" in repository URL; known: ${spec.queryKeys.join(', ')}${spec.queryHint ? ` ${spec.queryHint}` : ''}`);
    }
  }
  rest = trimSlashes(rest);
  const slash = rest.indexOf('/');
  const container = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
  const prefix = slash < 0 ? '' : trimSlashes(decodeURIComponent(rest.slice(slash + 1)));
  if (!container) throw new InvalidArgumentError(component, `repository URL "${url}" names no ${word}; use ${example}`);
  return endpoint === undefined ? { container, prefix, query } : { container, prefix, query, endpoint };
}

/** The URL `scheme:[endpoint/]container[/prefix][?query]` that parseStoreUrl() reads back. */
export function formatStoreUrl(scheme: string, parts: { container: string; prefix?: string; endpoint?: string }, query: URLSearchParams = new URLSearchParams()): string {
  const path = parts.prefix ? `${parts.container}/${parts.prefix}` : parts.container;
  const q = query.toString();
  return `${scheme}:${parts.endpoint ? `${parts.endpoint}/` : ''}${path}${q ? `?${q}` : ''}`;
}

/** The URL with the value of every query option whose name matches `secret` replaced by `***`. */
export function redactUrlQuery(url: string, secret: RegExp): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const k of [...params.keys()]) if (secret.test(k)) params.set(k, '***');
  return `${url.slice(0, q)}?${params.toString().replace(/%2A/g, '*')}`;
}

/** Checks that `endpoint` is a URL and drops trailing slashes; InvalidArgumentError otherwise. */
export function parseEndpoint(endpoint: string, component: string, example = 'https://host:port'): string {
  try {
    new URL(endpoint);
  } catch (cause) {
    throw new InvalidArgumentError(component, `endpoint "${endpoint}" is not a URL; use ${example}`, { cause });
  }
  return endpoint.replace(/\/+$/, '');
}

/** Reads a yes/no option: 1/true/yes/on or 0/false/no/off (any case); empty or missing is undefined. */
export function parseFlag(value: string | null | undefined, what: string, component: string): boolean | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new InvalidArgumentError(component, `${what} must be 1 or 0, not "${value}"`);
}

/** Socket and DNS error codes of Node and the cloud SDKs: a retry may succeed. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH',
  'ESOCKETTIMEDOUT', 'REQUEST_SEND_ERROR', 'UND_ERR_SOCKET',
]);

/** HTTP statuses worth a retry: server errors, 429 Too Many Requests, 408 Request Timeout. */
export function isTransientStatus(status: number | undefined): boolean {
  return status !== undefined && (status >= 500 || status === 429 || status === 408);
}

/**
 * Reads a response body that announced `size` bytes into one buffer of that size (a large object is
 * never held twice). More or fewer bytes than announced is a transient StoreError naming `what`.
 */
export async function readBody(body: AsyncIterable<Uint8Array>, size: number, component: string, what: string): Promise<Uint8Array> {
  const out = Buffer.allocUnsafeSlow(size);
  let filled = 0;
  for await (const chunk of body) {
    if (filled + chunk.byteLength > size) throw new StoreError(component, `reading ${what} returned more bytes than announced; will retry`, { transient: true });
    out.set(chunk, filled);
    filled += chunk.byteLength;
  }
  if (filled !== size) throw new StoreError(component, `reading ${what} was cut short (${filled} of ${size} bytes); will retry`, { transient: true });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
