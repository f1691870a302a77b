/**
 * A Google Cloud Storage JSON-API server, in memory, on loopback: enough of the API for
 * @google-cloud/storage to create and read buckets and to upload (simple, multipart and resumable),
 * download (whole and ranged), list, stat and delete objects. It follows Google's public API
 * reference (https://cloud.google.com/storage/docs/json_api): resources carry `md5Hash` and
 * `crc32c`, downloads carry `x-goog-hash`, preconditions answer 412, errors are
 * `{"error":{"code","message","errors"}}`. No authentication is checked.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoopbackServer } from './types.js';

// CRC-32C (Castagnoli), slice-by-8, as GCS reports it: big-endian, base64.
const CRC_TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    tables[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[0][n];
    for (let t = 1; t < 8; t++) {
      c = tables[0][c & 0xff] ^ (c >>> 8);
      tables[t][n] = c >>> 0;
    }
  }
  return tables;
})();

/** Continues a CRC-32C over `data`; start with 0. */
export function crc32cUpdate(crc: number, data: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  for (; i < end8; i += 8) {
    const a = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) ^ c;
    c =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[data[i + 4]] ^
      t2[data[i + 5]] ^
      t1[data[i + 6]] ^
      t0[data[i + 7]];
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function crc32cBase64(crc: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
}

interface StoredObject {
  name: string;
  data: Buffer;
  generation: number;
  metageneration: number;
  contentType: string;
  md5: string;
  crc32c: string;
  created: string;
  updated: string;
  metadata?: Record<string, string>;
}

interface Bucket {
  name: string;
  created: string;
  objects: Map<string, StoredObject>;
}

interface UploadSession {
  bucket: string;
  name: string;
  contentType: string;
  metadata?: Record<string, string>;
  ifGenerationMatch?: string;
  chunks: Buffer[];
  received: number;
  md5: Hash;
  crc: number;
  done?: StoredObject;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason = 'invalid',
  ) {
    super(message);
  }
}

export interface GcsServerOptions {
  /** Buckets to create at start. Default: `strata-test`. */
  buckets?: string[];
  /** Port on 127.0.0.1; default a free one. */
  port?: number;
}

/** The in-memory GCS JSON-API server. Use `startGcsServer()` for a running one. */
export class GcsServer {
  readonly buckets = new Map<string, Bucket>();
  private readonly uploads = new Map<string, UploadSession>();
  private generationCounter = Date.now() * 1000;
  private server?: Server;
  private baseUrl = '';

  constructor(buckets: string[] = []) {
    for (const name of buckets) this.createBucket(name);
  }

  /** Listens on 127.0.0.1 and returns the endpoint, `http://127.0.0.1:PORT`. */
  async listen(port = 0): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err) => this.sendError(res, err));
    });
    this.server = server;
    // Uploads of large objects take a while on loopback too.
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private createBucket(name: string): Bucket {
    if (!/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/.test(name)) throw new HttpError(400, `Invalid bucket name: '${name}'`);
    if (this.buckets.has(name)) {
      throw new HttpError(409, 'Your previous request to create the named bucket succeeded and you already own it.', 'conflict');
    }
    const bucket = { name, created: new Date().toISOString(), objects: new Map<string, StoredObject>() };
    this.buckets.set(name, bucket);
    return bucket;
  }

  private bucket(name: string): Bucket {
    const b = this.buckets.get(name);
    if (!b) throw new HttpError(404, 'The specified bucket does not exist.', 'notFound');
    return b;
  }

  private bucketResource(b: Bucket) {
    return {
      kind: 'storage#bucket',
      selfLink: `${this.baseUrl}/storage/v1/b/${b.name}`,
      id: b.name,
      name: b.name,
      projectNumber: '0',
      metageneration: '1',
      location: 'US',
      storageClass: 'STANDARD',
      etag: 'CAE=',
      timeCreated: b.created,
      updated: b.created,
    };
  }

  private objectResource(bucket: string, o: StoredObject) {
    const enc = encodeURIComponent(o.name);
    return {
      kind: 'storage#object',
      id: `${bucket}/${o.name}/${o.generation}`,
      selfLink: `${this.baseUrl}/storage/v1/b/${bucket}/o/${enc}`,
      mediaLink: `${this.baseUrl}/download/storage/v1/b/${bucket}/o/${enc}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket,
      generation: String(o.generation),
      metageneration: String(o.metageneration),
      contentType: o.contentType,
      storageClass: 'STANDARD',
      size: String(o.data.length),
      md5Hash: o.md5,
      crc32c: o.crc32c,
      etag: Buffer.from(String(o.generation)).toString('base64'),
      timeCreated: o.created,
      updated: o.updated,
      timeStorageClassUpdated: o.created,
      ...(o.metadata ? { metadata: o.metadata } : {}),
    };
  }

  /** Checks ifGenerationMatch / ifGenerationNotMatch against what is stored under `name`. */
  private checkPreconditions(b: Bucket, name: string, q: URLSearchParams, ifGenerationMatch = q.get('ifGenerationMatch') ?? undefined) {
    const existing = b.objects.get(name);
    const gen = existing ? String(existing.generation) : '0';
    if (ifGenerationMatch !== undefined && ifGenerationMatch !== gen) {
      throw new HttpError(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
    }
    const notMatch = q.get('ifGenerationNotMatch');
    if (notMatch !== null && notMatch === gen) {
      throw new HttpError(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
    }
  }

  private store(
    bucket: string,
    name: string,
    data: Buffer,
    contentType: string,
    md5: string,
    crc32c: string,
    metadata?: Record<string, string>,
  ): StoredObject {
    if (!name) throw new HttpError(400, 'Required: object name.', 'required');
    const b = this.bucket(bucket);
    const now = new Date().toISOString();
    const o: StoredObject = {
      name,
      data,
      generation: ++this.generationCounter,
      metageneration: 1,
      contentType: contentType || 'application/octet-stream',
      md5,
      crc32c,
      created: now,
      updated: now,
      metadata,
    };
    b.objects.set(name, o);
    return o;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const q = url.searchParams;
    const path = url.pathname;
    const method = req.method ?? 'GET';
    let m: RegExpMatchArray | null;

    // Object media, metadata and deletion: /storage/v1/b/B/o/NAME (also /download/...).
    if ((m = path.match(/^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/))) {
      const b = this.bucket(decodeURIComponent(m[1]));
      const name = decodeURIComponent(m[2]);
      const o = b.objects.get(name);
      if (method === 'DELETE') {
        if (!o) throw new HttpError(404, `No such object: ${b.name}/${name}`, 'notFound');
        this.checkPreconditions(b, name, q);
        b.objects.delete(name);
        res.writeHead(204).end();
        return;
      }
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `Method ${method} is not supported here.`);
      if (!o) throw new HttpError(404, `No such object: ${b.name}/${name}`, 'notFound');
      const gen = q.get('generation');
      if (gen !== null && gen !== String(o.generation)) throw new HttpError(404, `No such object: ${b.name}/${name}#${gen}`, 'notFound');
      this.checkPreconditions(b, name, q);
      if (q.get('alt') === 'media' || path.startsWith('/download/')) return this.sendMedia(req, res, o);
      return this.sendJson(res, 200, this.objectResource(b.name, o));
    }

    // Listing: /storage/v1/b/B/o
    if ((m = path.match(/^\/storage\/v1\/b\/([^/]+)\/o\/?$/)) && method === 'GET') {
      return this.list(res, this.bucket(decodeURIComponent(m[1])), q);
    }

    // Uploads: /upload/storage/v1/b/B/o
    if ((m = path.match(/^\/upload\/storage\/v1\/b\/([^/]+)\/o\/?$/))) {
      const bucket = decodeURIComponent(m[1]);
      const uploadType = q.get('uploadType') ?? 'media';
      if (method === 'PUT' || (method === 'POST' && q.has('upload_id'))) return this.resumableChunk(req, res, q);
      if (method !== 'POST') throw new HttpError(405, `Method ${method} is not supported here.`);
      if (uploadType === 'resumable') return this.resumableStart(req, res, bucket, q);
      if (uploadType === 'multipart') return this.multipartUpload(req, res, bucket, q);
      if (uploadType === 'media') {
        const b = this.bucket(bucket);
        const name = q.get('name') ?? '';
        this.checkPreconditions(b, name, q);
        const data = await readBody(req);
        const o = this.store(bucket, name, data, req.headers['content-type'] ?? '', md5Of(data), crc32cBase64(crc32cUpdate(0, data)));
        return this.sendJson(res, 200, this.objectResource(bucket, o));
      }
      throw new HttpError(400, `Invalid uploadType: '${uploadType}'.`);
    }

    // Buckets: /storage/v1/b and /storage/v1/b/B
    if (path.match(/^\/storage\/v1\/b\/?$/)) {
      if (method === 'POST') {
        const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { name?: string };
        if (!body.name) throw new HttpError(400, 'Required: bucket name.', 'required');
        return this.sendJson(res, 200, this.bucketResource(this.createBucket(body.name)));
      }
      if (method === 'GET') {
        return this.sendJson(res, 200, { kind: 'storage#buckets', items: [...this.buckets.values()].map((b) => this.bucketResource(b)) });
      }
    }
    if ((m = path.match(/^\/storage\/v1\/b\/([^/]+)\/?$/))) {
      const b = this.bucket(decodeURIComponent(m[1]));
      if (method === 'GET') return this.sendJson(res, 200, this.bucketResource(b));
      if (method === 'DELETE') {
        if (b.objects.size > 0) throw new HttpError(409, 'The bucket you tried to delete is not empty.', 'conflict');
        this.buckets.delete(b.name);
        res.writeHead(204).end();
        return;
      }
    }
    throw new HttpError(404, `Not Found: ${method} ${path}`, 'notFound');
  }

  private sendMedia(req: IncomingMessage, res: ServerResponse, o: StoredObject): void {
    const size = o.data.length;
    const headers: Record<string, string | number> = {
      'Content-Type': o.contentType,
      'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5}`,
      'x-goog-generation': String(o.generation),
      'x-goog-metageneration': String(o.metageneration),
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-stored-content-length': String(size),
      'Accept-Ranges': 'bytes',
      ETag: `"${o.md5}"`,
      'Last-Modified': new Date(o.updated).toUTCString(),
    };
    const range = req.headers.range;
    if (range) {
      const r = range.match(/^bytes=(\d*)-(\d*)$/);
      if (!r || (r[1] === '' && r[2] === '')) throw new HttpError(400, `Invalid Range header: ${range}`);
      let start: number;
      let end: number;
      if (r[1] === '') {
        start = Math.max(0, size - Number(r[2]));
        end = size - 1;
      } else {
        start = Number(r[1]);
        end = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
      }
      if (start >= size || end < start) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 416, message: 'The requested range cannot be satisfied.', errors: [{ domain: 'global', reason: 'requestedRangeNotSatisfiable', message: 'The requested range cannot be satisfied.' }] } }));
        return;
      }
      res.writeHead(206, { ...headers, 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${size}` });
      res.end(req.method === 'HEAD' ? undefined : o.data.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': size });
    res.end(req.method === 'HEAD' ? undefined : o.data);
  }

  private list(res: ServerResponse, b: Bucket, q: URLSearchParams): void {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const startOffset = q.get('startOffset') ?? '';
    const endOffset = q.get('endOffset');
    const maxResults = Math.max(1, Math.min(1000, Number(q.get('maxResults') ?? 1000) || 1000));
    const after = q.get('pageToken') ? Buffer.from(q.get('pageToken')!, 'base64url').toString('utf8') : undefined;
    const names = [...b.objects.keys()]
      .filter((n) => n.startsWith(prefix) && n >= startOffset && (endOffset === null || n < endOffset))
      .sort();
    const items: ReturnType<GcsServer['objectResource']>[] = [];
    const prefixes = new Set<string>();
    let last: string | undefined;
    let more = false;
    for (const name of names) {
      if (after !== undefined && name <= after) continue;
      if (items.length + prefixes.size >= maxResults) {
        more = true;
        break;
      }
      last = name;
      if (delimiter) {
        const i = name.indexOf(delimiter, prefix.length);
        if (i >= 0) {
          const p = name.slice(0, i + delimiter.length);
          if (!prefixes.has(p)) prefixes.add(p);
          // Skip the rest of this prefix: they fold into it.
          last = p + '\uffff';
          continue;
        }
      }
      items.push(this.objectResource(b.name, b.objects.get(name)!));
    }
    const body: Record<string, unknown> = { kind: 'storage#objects' };
    if (items.length) body.items = items;
    if (prefixes.size) body.prefixes = [...prefixes];
    if (more && last !== undefined) body.nextPageToken = Buffer.from(last, 'utf8').toString('base64url');
    this.sendJson(res, 200, body);
  }

  private async multipartUpload(req: IncomingMessage, res: ServerResponse, bucket: string, q: URLSearchParams): Promise<void> {
    const b = this.bucket(bucket);
    const type = req.headers['content-type'] ?? '';
    const bm = type.match(/boundary=(?:"([^"]+)"|([^;]+))/i);
    if (!/^multipart\/related/i.test(type) || !bm) throw new HttpError(400, 'A multipart upload needs Content-Type multipart/related with a boundary.');
    const parts = splitMultipart(await readBody(req), bm[1] ?? bm[2]);
    if (parts.length < 2) throw new HttpError(400, 'A multipart upload needs a metadata part and a media part.');
    const meta = JSON.parse(parts[0].body.toString('utf8') || '{}') as { name?: string; contentType?: string; metadata?: Record<string, string> };
    const name = q.get('name') ?? meta.name ?? '';
    this.checkPreconditions(b, name, q);
    const data = parts[1].body;
    const o = this.store(
      bucket,
      name,
      data,
      meta.contentType ?? parts[1].headers['content-type'] ?? '',
      md5Of(data),
      crc32cBase64(crc32cUpdate(0, data)),
      meta.metadata,
    );
    this.sendJson(res, 200, this.objectResource(bucket, o));
  }

  private async resumableStart(req: IncomingMessage, res: ServerResponse, bucket: string, q: URLSearchParams): Promise<void> {
    const b = this.bucket(bucket);
    const text = (await readBody(req)).toString('utf8');
    const meta = (text ? JSON.parse(text) : {}) as { name?: string; contentType?: string; metadata?: Record<string, string> };
    const name = q.get('name') ?? meta.name ?? '';
    if (!name) throw new HttpError(400, 'Required: object name.', 'required');
    // Preconditions are checked now and again when the upload completes.
    this.checkPreconditions(b, name, q);
    const id = randomBytes(16).toString('hex');
    this.uploads.set(id, {
      bucket,
      name,
      contentType: String(req.headers['x-upload-content-type'] ?? meta.contentType ?? ''),
      metadata: meta.metadata,
      ifGenerationMatch: q.get('ifGenerationMatch') ?? undefined,
      chunks: [],
      received: 0,
      md5: createHash('md5'),
      crc: 0,
    });
    const location = `${this.baseUrl}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
    res.writeHead(200, { Location: location, 'Content-Length': 0 });
    res.end();
  }

  private async resumableChunk(req: IncomingMessage, res: ServerResponse, q: URLSearchParams): Promise<void> {
    const id = q.get('upload_id') ?? '';
    const s = this.uploads.get(id);
    if (!s) {
      await readBody(req);
      throw new HttpError(404, 'No such upload session; start a new upload.', 'notFound');
    }
    if (s.done) {
      await readBody(req);
      return this.sendJson(res, 200, this.objectResource(s.bucket, s.done));
    }
    const cr = String(req.headers['content-range'] ?? '');
    let first: number | undefined;
    let total: number | undefined;
    let statusQuery = false;
    if (cr) {
      const r = cr.match(/^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/);
      if (!r) throw new HttpError(400, `Invalid Content-Range: ${cr}`);
      if (r[1] === undefined) statusQuery = true;
      else first = Number(r[1]);
      if (r[3] !== '*') total = Number(r[3]);
    }
    if (first !== undefined && first > s.received) {
      await readBody(req);
      throw new HttpError(400, `Upload chunk starts at ${first} but ${s.received} bytes were received; query the session and resume.`);
    }
    // Bytes the server already has are skipped, as GCS does for a resent chunk.
    let skip = first === undefined ? 0 : s.received - first;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      let c = chunk;
      if (skip > 0) {
        const n = Math.min(skip, c.length);
        skip -= n;
        c = c.subarray(n);
      }
      if (c.length === 0) continue;
      s.chunks.push(c);
      s.received += c.length;
      s.md5.update(c);
      s.crc = crc32cUpdate(s.crc, c);
    }
    // Finished when the total is known and reached, or when the client sent the rest without a total.
    // `bytes A-*/*` is the client sending everything that is left in one request.
    const complete = total !== undefined ? s.received >= total : !statusQuery && (cr === '' || /-\*\//.test(cr));
    if (total !== undefined && s.received > total) throw new HttpError(400, `Upload sent ${s.received} bytes, more than the declared ${total}.`);
    if (!complete) {
      const headers: Record<string, string | number> = { 'Content-Length': 0 };
      if (s.received > 0) headers.Range = `bytes=0-${s.received - 1}`;
      res.writeHead(308, headers);
      res.end();
      return;
    }
    const b = this.bucket(s.bucket);
    this.checkPreconditions(b, s.name, new URLSearchParams(), s.ifGenerationMatch);
    const data = s.chunks.length === 1 ? s.chunks[0] : Buffer.concat(s.chunks);
    s.chunks = [];
    s.done = this.store(s.bucket, s.name, data, s.contentType, s.md5.digest('base64'), crc32cBase64(s.crc), s.metadata);
    this.sendJson(res, 200, this.objectResource(s.bucket, s.done));
  }

  private sendJson(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private sendError(res: ServerResponse, err: unknown): void {
    const status = err instanceof HttpError ? err.status : 500;
    const reason = err instanceof HttpError ? err.reason : 'backendError';
    const message = err instanceof Error ? err.message : String(err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.sendJson(res, status, { error: { code: status, message, errors: [{ message, domain: 'global', reason }] } });
  }
}

function md5Of(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** Splits a multipart/related body into parts with lower-cased headers; binary safe. */
function splitMultipart(body: Buffer, boundary: string): { headers: Record<string, string>; body: Buffer }[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let pos = body.indexOf(delimiter);
  while (pos >= 0) {
    let start = pos + delimiter.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) break; // closing delimiter
    if (body[start] === 0x0d && body[start + 1] === 0x0a) start += 2;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    // The part ends with CRLF before the next delimiter.
    let end = next;
    if (body[end - 2] === 0x0d && body[end - 1] === 0x0a) end -= 2;
    const part = body.subarray(start, end);
    const sep = part.indexOf('\r\n\r\n');
    const headerText = sep >= 0 ? part.subarray(0, sep).toString('utf8') : '';
    const headers: Record<string, string> = {};
    for (const line of headerText.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    parts.push({ headers, body: sep >= 0 ? part.subarray(sep + 4) : part });
    pos = next;
  }
  return parts;
}

/**
 * Starts the GCS JSON-API server on 127.0.0.1 and a free port, in memory. Clients use
 * `apiEndpoint: endpoint` and `useAuthWithCustomEndpoint: false`.
 */
export async function startGcsServer(options: GcsServerOptions = {}): Promise<LoopbackServer & { server: GcsServer }> {
  const buckets = options.buckets ?? ['strata-test'];
  const server = new GcsServer(buckets);
  const endpoint = await server.listen(options.port ?? 0);
  return {
    name: 'gcs',
    endpoint,
    server,
    env: { STRATA_GCS_ENDPOINT: endpoint, GOOGLE_CLOUD_PROJECT: 'strata-test' },
    urlFor: (prefix) => `gs:${buckets[0]}/${prefix}`,
    stop: () => server.close(),
  };
}
