/** Worker thread entry: rebuilds the plugins from their portable specs and runs pool jobs. */
import { parentPort, workerData } from 'node:worker_threads';
import type { Cipher, Codec, PortableSpec } from '@strata/core';
import { Box, parseCompression } from './format/box.js';
import type { DecodeRequest, WorkerSetup } from './pool.js';
import { decodeOne } from './pool.js';
import { transferList } from './transfer.js';
import { type PackedSpecs, Processor, type ProcessorHost, type SealedBlob, packBlobs, unpackSpecs } from './processor.js';
import { type RestoreSegment, Restorer } from './restorer.js';

async function build<T>(spec: PortableSpec): Promise<T> {
  const mod = await import(spec.module);
  return mod[spec.exportName](...(spec.args ?? [])) as T;
}

const setup = workerData as WorkerSetup;
const port = parentPort!;
const pendingCalls = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void }>();
let nextRid = 1;

function call<T>(op: string, payload: unknown, transfer: ArrayBuffer[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const rid = nextRid++;
    pendingCalls.set(rid, { resolve, reject });
    port.postMessage({ t: 'call', rid, op, payload }, transfer);
  });
}

const host: ProcessorHost = {
  query: (ids) => call<Uint8Array>('query', ids),
  store: (blobs: SealedBlob[]) => {
    const { packed, transfer } = packBlobs(blobs);
    return call<void>('store', packed, transfer);
  },
};

const ready = (async () => {
  const cipher = setup.cipher ? await build<Cipher>(setup.cipher) : null;
  const codecs = await Promise.all(setup.codecs.map((s) => build<Codec>(s)));
  const box = new Box(cipher, setup.keys, codecs);
  return { box, processor: new Processor(box, parseCompression(setup.compression, codecs), setup.chunker), restorer: new Restorer(box) };
})();

port.on('message', async (m: any) => {
  if (m.t === 'reply') {
    const p = pendingCalls.get(m.rid);
    pendingCalls.delete(m.rid);
    if (m.ok) p?.resolve(m.value);
    else p?.reject(new Error(m.error));
    return;
  }
  if (m.t !== 'job') return;
  try {
    const { box, processor, restorer } = await ready;
    let result: unknown;
    let transfer: ArrayBuffer[] = [];
    if (m.kind === 'backup') result = await processor.backupFiles(unpackSpecs(m.payload as PackedSpecs), host);
    else if (m.kind === 'restore') result = await restorer.restoreSegments(m.payload as RestoreSegment[]);
    else {
      const { requests, verifyOnly } = m.payload as { requests: DecodeRequest[]; verifyOnly: boolean };
      const out = requests.map((r) => decodeOne(box, r, verifyOnly));
      result = out;
      transfer = transferList(out.flatMap((r) => (r.ok ? [r.data] : [])));
    }
    port.postMessage({ t: 'done', result }, transfer);
  } catch (err) {
    port.postMessage({ t: 'fail', error: (err as Error).message });
  }
});
