import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { crc32cUpdate, startGcsServer, type GcsServer, type LoopbackServer } from '../src/servers/index.js';

let gcs: LoopbackServer & { server: GcsServer };
let base: string;

beforeAll(async () => {
  gcs = await startGcsServer({ buckets: ['b1x'] });
  base = gcs.endpoint;
});
afterAll(async () => {
  await gcs?.stop();
});

// JSON bodies of the API, checked field by field.
const json = async (r: Response): Promise<any> => r.json();
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('base64');
const crc = (b: Uint8Array) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32cUpdate(0, b));
  return out.toString('base64');
};

async function upload(name: string, data: Uint8Array, query = ''): Promise<Response> {
  return fetch(`${base}/upload/storage/v1/b/b1x/o?uploadType=media&name=${encodeURIComponent(name)}${query}`, { method: 'POST', body: data });
}

describe('GCS JSON-API server', () => {
  test('CRC-32C matches the published check value, also when fed in pieces', () => {
    const data = new TextEncoder().encode('123456789');
    expect(crc32cUpdate(0, data)).toBe(0xe3069283);
    expect(crc32cUpdate(crc32cUpdate(0, data.subarray(0, 4)), data.subarray(4))).toBe(0xe3069283);
    const long = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);
    expect(crc32cUpdate(crc32cUpdate(0, long.subarray(0, 333)), long.subarray(333))).toBe(crc32cUpdate(0, long));
  });

  test('media upload, metadata with hashes, download with x-goog-hash, ranges', async () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => i & 255);
    const res = await upload('dir/a b.bin', data);
    expect(res.status).toBe(200);
    const resource = await json(res);
    expect(resource).toMatchObject({ kind: 'storage#object', name: 'dir/a b.bin', bucket: 'b1x', size: '1000', md5Hash: md5(data), crc32c: crc(data) });

    const meta = await fetch(`${base}/storage/v1/b/b1x/o/${encodeURIComponent('dir/a b.bin')}`);
    expect((await json(meta)).generation).toBe(resource.generation);

    const media = await fetch(`${base}/storage/v1/b/b1x/o/${encodeURIComponent('dir/a b.bin')}?alt=media`);
    expect(media.status).toBe(200);
    expect(media.headers.get('x-goog-hash')).toBe(`crc32c=${crc(data)},md5=${md5(data)}`);
    expect(Buffer.compare(Buffer.from(await media.arrayBuffer()), data)).toBe(0);

    const ranged = await fetch(`${base}/storage/v1/b/b1x/o/${encodeURIComponent('dir/a b.bin')}?alt=media`, { headers: { Range: 'bytes=10-19' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe('bytes 10-19/1000');
    expect([...new Uint8Array(await ranged.arrayBuffer())]).toEqual([...data.subarray(10, 20)]);
    const tail = await fetch(`${base}/storage/v1/b/b1x/o/${encodeURIComponent('dir/a b.bin')}?alt=media`, { headers: { Range: 'bytes=-5' } });
    expect([...new Uint8Array(await tail.arrayBuffer())]).toEqual([...data.subarray(995)]);
    const past = await fetch(`${base}/storage/v1/b/b1x/o/${encodeURIComponent('dir/a b.bin')}?alt=media`, { headers: { Range: 'bytes=1000-' } });
    expect(past.status).toBe(416);
  });

  test('ifGenerationMatch=0 refuses an existing object with 412 in the JSON error shape', async () => {
    expect((await upload('cond', Uint8Array.of(1), '&ifGenerationMatch=0')).status).toBe(200);
    const res = await upload('cond', Uint8Array.of(2), '&ifGenerationMatch=0');
    expect(res.status).toBe(412);
    const body = await json(res);
    expect(body.error.code).toBe(412);
    expect(typeof body.error.message).toBe('string');
    const media = await fetch(`${base}/storage/v1/b/b1x/o/cond?alt=media`);
    expect([...new Uint8Array(await media.arrayBuffer())]).toEqual([1]);
  });

  test('multipart/related upload', async () => {
    const boundary = 'xyzzy';
    const data = Buffer.from('\r\n--not-the-boundary\r\nbinary\0data');
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ name: 'mp/obj', contentType: 'application/x-test' })}\r\n--${boundary}\r\nContent-Type: application/x-test\r\n\r\n`),
      data,
      Buffer.from(`\r\n--${boundary}--`),
    ]);
    const res = await fetch(`${base}/upload/storage/v1/b/b1x/o?uploadType=multipart`, {
      method: 'POST',
      headers: { 'Content-Type': `multipart/related; boundary=${boundary}` },
      body,
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ name: 'mp/obj', size: String(data.length), contentType: 'application/x-test', md5Hash: md5(data) });
  });

  test('resumable upload: Location, 308 with Range for chunks, status query, final 200', async () => {
    const data = Uint8Array.from({ length: 600 * 1024 }, (_, i) => (i * 31) & 255);
    const start = await fetch(`${base}/upload/storage/v1/b/b1x/o?uploadType=resumable&name=res%2Fobj`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(start.status).toBe(200);
    const location = start.headers.get('location')!;
    expect(location).toMatch(/upload_id=/);
    const first = await fetch(location, { method: 'PUT', headers: { 'Content-Range': `bytes 0-262143/*` }, body: data.subarray(0, 262144) });
    expect(first.status).toBe(308);
    expect(first.headers.get('range')).toBe('bytes=0-262143');
    const status = await fetch(location, { method: 'PUT', headers: { 'Content-Range': 'bytes */*' } });
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe('bytes=0-262143');
    const last = await fetch(location, { method: 'PUT', headers: { 'Content-Range': `bytes 262144-${data.length - 1}/${data.length}` }, body: data.subarray(262144) });
    expect(last.status).toBe(200);
    expect(await json(last)).toMatchObject({ name: 'res/obj', size: String(data.length), md5Hash: md5(data), crc32c: crc(data) });
  });

  test('list with prefix, maxResults and pageToken visits every object once', async () => {
    for (let i = 0; i < 25; i++) await upload(`list/${String(i).padStart(3, '0')}`, Uint8Array.of(i));
    await upload('listing-other', Uint8Array.of(0));
    const names: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const res = await fetch(`${base}/storage/v1/b/b1x/o?prefix=list%2F&maxResults=10${pageToken ? `&pageToken=${pageToken}` : ''}`);
      const body = await json(res);
      names.push(...body.items.map((o: { name: string }) => o.name));
      pageToken = body.nextPageToken ?? '';
      pages++;
    } while (pageToken);
    expect(pages).toBe(3);
    expect(names).toEqual(Array.from({ length: 25 }, (_, i) => `list/${String(i).padStart(3, '0')}`));
  });

  test('buckets: create, get, conflict; missing objects and buckets are 404', async () => {
    const created = await fetch(`${base}/storage/v1/b?project=p`, { method: 'POST', body: JSON.stringify({ name: 'new-bucket' }) });
    expect(created.status).toBe(200);
    expect((await fetch(`${base}/storage/v1/b/new-bucket`)).status).toBe(200);
    expect((await fetch(`${base}/storage/v1/b?project=p`, { method: 'POST', body: JSON.stringify({ name: 'new-bucket' }) })).status).toBe(409);
    const missing = await fetch(`${base}/storage/v1/b/b1x/o/nothing`);
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe(404);
    expect((await fetch(`${base}/storage/v1/b/nope-bucket/o/x`)).status).toBe(404);
    expect((await fetch(`${base}/storage/v1/b/b1x/o/nothing`, { method: 'DELETE' })).status).toBe(404);
  });
});

describe('child-process servers', () => {
  test('s3rver and Azurite start on loopback, answer, and stop', async () => {
    const { startS3Server, startAzurite } = await import('../src/servers/index.js');
    const [s3, az] = await Promise.all([startS3Server({ buckets: ['strata-test'] }), startAzurite()]);
    try {
      expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(az.env.AZURE_STORAGE_CONNECTION_STRING).toContain(`BlobEndpoint=${az.endpoint}/devstoreaccount1`);
      const list = await fetch(`${s3.endpoint}/strata-test?list-type=2`);
      expect(list.status).toBe(200);
      expect(await list.text()).toContain('ListBucketResult');
      // Azurite answers; without a signature the request is refused, as Azure does.
      expect((await fetch(`${az.endpoint}/devstoreaccount1?comp=list`)).status).toBe(403);
    } finally {
      await Promise.all([s3.stop(), az.stop()]);
    }
    await expect(fetch(`${s3.endpoint}/`)).rejects.toThrow();
    await expect(fetch(`${az.endpoint}/`)).rejects.toThrow();
  });
});
