/**
 * A pool of worker threads running the Processor (backup) and Restorer (restore, check). When a
 * plugin in use has no `portable` spec, or `workers` is 0, the same code runs on the main thread.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Cipher, Codec, PortableSpec } from '@strata/core';
import { StrataError } from '@strata/core';
import { Box, type MasterKeys, parseCompression } from './format/box.js';
import { type BackupFileResult, type BackupFileSpec, type ChunkerSetup, type PackedBlobs, Processor, type ProcessorHost, packSpecs, unpackBlobs } from './processor.js';
import { type RestoreFileResult, type RestoreSegment, Restorer } from './restorer.js';
import { transferList } from './transfer.js';

export interface WorkerSetup {
  cipher: PortableSpec | null;
  codecs: PortableSpec[];
  keys: MasterKeys;
  chunker: ChunkerSetup;
  compression: string;
}

export type JobKind = 'backup' | 'restore' | 'decode';

export interface DecodeRequest {
  type: number;
  id: Uint8Array;
  stored: Uint8Array;
  rawLength: number;
}

/** Result of decoding one blob: the plaintext or the error message. */
export type DecodeResult = { ok: true; data: Uint8Array } | { ok: false; error: string };

interface Job {
  kind: JobKind;
  payload: unknown;
  transfer: ArrayBuffer[];
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
  host?: ProcessorHost;
}

interface Slot {
  worker: Worker;
  busy: Job | undefined;
  own: Job[];
}

export class Pool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private processor?: Processor;
  private restorer?: Restorer;
  private local?: Box;
  private nextRid = 1;
  private readonly localChain: Promise<unknown>[] = [];
  private closed = false;

  private constructor(
    private readonly cipher: Cipher | null,
    private readonly codecs: Codec[],
    private readonly setup: WorkerSetup,
  ) {}

  /** Builds the pool: `size` workers when every plugin is portable, else the main thread. */
  static create(cipher: Cipher | null, codecs: Codec[], keys: MasterKeys, chunker: ChunkerSetup, compression: string, size?: number): Pool {
    const portable = (cipher === null || cipher.portable !== undefined) && codecs.every((c) => c.portable !== undefined);
    const setup: WorkerSetup = {
      cipher: cipher?.portable ?? null,
      codecs: portable ? codecs.map((c) => c.portable!) : [],
      keys,
      chunker,
      compression,
    };
    const pool = new Pool(cipher, codecs, setup);
    const n = portable ? Math.max(0, size ?? os.availableParallelism()) : 0;
    // Workers start on the first job: a no-change backup may never need one.
    pool.planned = n;
    if (n === 0) {
      pool.local = new Box(cipher, keys, codecs);
      pool.processor = new Processor(pool.local, parseCompression(compression, codecs), chunker);
      pool.restorer = new Restorer(pool.local);
    }
    return pool;
  }

  private planned = 0;
  private started = false;

  /** Number of worker threads (0: the main thread does the work). */
  get size(): number {
    return this.planned;
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    for (let i = 0; i < this.planned; i++) this.spawn();
  }

  private spawn(): void {
    let worker: Worker;
    if (import.meta.url.endsWith('.ts')) {
      // Running from TypeScript sources (tests): load the worker through tsx's loader.
      const api = createRequire(import.meta.url).resolve('tsx/esm/api');
      const url = new URL('./worker.ts', import.meta.url).href;
      const code = `require(${JSON.stringify(api)}).register(); import(${JSON.stringify(url)});`;
      worker = new Worker(code, { eval: true, execArgv: ['--conditions=strata-source'], workerData: this.setup });
    } else {
      worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: this.setup });
    }
    worker.unref();
    const slot: Slot = { worker, busy: undefined, own: [] };
    worker.on('message', (m: any) => this.onMessage(slot, m));
    worker.on('error', (err) => this.onFailure(slot, err));
    worker.on('exit', (code) => {
      if (!this.closed) this.onFailure(slot, new StrataError('ABORTED', 'engine', `a worker thread exited with code ${code}; the operation was aborted.`));
    });
    this.slots.push(slot);
  }

  private onFailure(slot: Slot, err: unknown): void {
    const job = slot.busy;
    slot.busy = undefined;
    const idx = this.slots.indexOf(slot);
    if (idx >= 0) this.slots.splice(idx, 1);
    job?.reject(err);
    for (const j of slot.own) j.reject(err);
    if (this.slots.length === 0) for (const j of this.queue.splice(0)) j.reject(err);
  }

  private onMessage(slot: Slot, m: any): void {
    const job = slot.busy;
    if (!job) return;
    if (m.t === 'call') {
      const host = job.host!;
      const p = m.op === 'query' ? host.query(m.payload as Uint8Array) : host.store(unpackBlobs(m.payload as PackedBlobs));
      p.then(
        (value) => slot.worker.postMessage({ t: 'reply', rid: m.rid, ok: true, value }),
        (err) => slot.worker.postMessage({ t: 'reply', rid: m.rid, ok: false, error: (err as Error).message }),
      );
      return;
    }
    slot.busy = undefined;
    if (m.t === 'done') job.resolve(m.result);
    else job.reject(new StrataError('ABORTED', 'engine', m.error));
    this.dispatch();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.busy) continue;
      const job = slot.own.shift() ?? this.queue.shift();
      if (!job) continue;
      slot.busy = job;
      slot.worker.postMessage({ t: 'job', kind: job.kind, payload: job.payload, rid: this.nextRid++ }, job.transfer);
    }
  }

  /** Worker chosen for each affinity key that still has segments to come. */
  private readonly pinned = new Map<number, Slot>();

  private run<T>(kind: JobKind, payload: unknown, transfer: ArrayBuffer[], host: ProcessorHost | undefined, affinity: number | undefined): Promise<T> {
    if (this.closed) return Promise.reject(new StrataError('ABORTED', 'engine', 'the repository is closed.'));
    this.start();
    return new Promise<T>((resolve, reject) => {
      const job: Job = { kind, payload, transfer, resolve, reject, host };
      if (affinity !== undefined && this.slots.length > 0) {
        // A new key goes to the worker with the least queued work; its later jobs follow it there.
        let slot = this.pinned.get(affinity);
        if (!slot || !this.slots.includes(slot)) {
          slot = this.slots.reduce((best, s) => (load(s) < load(best) ? s : best));
          this.pinned.set(affinity, slot);
        }
        slot.own.push(job);
      } else this.queue.push(job);
      this.dispatch();
    });
  }

  /** Jobs waiting for a worker (for backpressure by callers). */
  get waiting(): number {
    return this.queue.length + this.slots.reduce((n, s) => n + s.own.length + (s.busy ? 1 : 0), 0);
  }

  /** Chunks, hashes, compresses and seals files; new blobs go to host.store. */
  async backupFiles(files: BackupFileSpec[], host: ProcessorHost): Promise<BackupFileResult[]> {
    if (this.planned === 0) return this.serial(() => this.processor!.backupFiles(files, host));
    const packed = packSpecs(files);
    return this.run('backup', packed, transferList([packed.paths]), host, undefined);
  }

  /** Decodes blobs and writes file segments; all segments of one file must use the same `affinity`. */
  async restoreSegments(segments: RestoreSegment[], affinity: number, transfer: ArrayBuffer[] = []): Promise<RestoreFileResult[]> {
    if (this.planned === 0) return this.serial(() => this.restorer!.restoreSegments(segments));
    let out: RestoreFileResult[];
    try {
      out = await this.run('restore', segments, transfer, undefined, affinity);
    } catch (err) {
      this.pinned.delete(affinity);
      throw err;
    }
    // A result means the file is done (its last segment, or the worker gave up on it): unpin it.
    if (out.length > 0) this.pinned.delete(affinity);
    return out;
  }

  /**
   * Decodes and verifies blobs. With `verifyOnly` the plaintexts are dropped (results carry an empty
   * array). `transfer` hands buffers the requests view (a whole pack) to the worker without a copy.
   */
  async decode(requests: DecodeRequest[], options: { verifyOnly?: boolean; transfer?: ArrayBuffer[] } = {}): Promise<DecodeResult[]> {
    if (this.planned === 0) {
      return this.serial(async () => requests.map((r) => decodeOne(this.local!, r, options.verifyOnly)));
    }
    return this.run('decode', { requests, verifyOnly: options.verifyOnly ?? false }, options.transfer ?? transferList(requests.map((r) => r.stored)), undefined, undefined);
  }

  // Main-thread mode runs one job at a time, like a single worker.
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.localChain.pop() ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.localChain.push(next.catch(() => undefined));
    return next;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}

function load(s: Slot): number {
  return s.own.length + (s.busy ? 1 : 0);
}

export function decodeOne(box: Box, r: DecodeRequest, verifyOnly = false): DecodeResult {
  try {
    const data = box.decodeBlob(r.type, r.id, r.stored, r.rawLength);
    return { ok: true, data: verifyOnly ? new Uint8Array(0) : data };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
