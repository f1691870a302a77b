/**
 * Which buffers may go in a postMessage transfer list. Transferring detaches the whole ArrayBuffer,
 * so only buffers a view owns outright qualify: never a slice of a larger buffer (Node's Buffer pool
 * among them: Node 20 silently detaches the shared pool, Node 22 throws "Cannot transfer object of
 * unsupported type"), never one marked untransferable, and never the same buffer twice.
 */
import * as wt from 'node:worker_threads';

const isUntransferable: (b: ArrayBufferLike) => boolean =
  (wt as { isMarkedAsUntransferable?: (b: unknown) => boolean }).isMarkedAsUntransferable ?? (() => false);

export function transferList(views: Iterable<ArrayBufferView>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of views) {
    const buf = v.buffer;
    if (!(buf instanceof ArrayBuffer)) continue;
    if (v.byteOffset !== 0 || v.byteLength !== buf.byteLength || buf.byteLength === 0) continue;
    if (isUntransferable(buf)) continue;
    out.add(buf);
  }
  return [...out];
}
