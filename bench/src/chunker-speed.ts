// Chunker throughput on random data (not a test): `pnpm --filter @strata/bench run chunker-speed [MiB]`.
import { randomBytes } from 'node:crypto';
import { Chunker, createGearTable, cutPoints } from '../../packages/engine/src/chunker.ts';

const mib = Number(process.argv[2] ?? 256);
const data = new Uint8Array(mib * 1024 * 1024);
for (let off = 0; off < data.length; off += 1 << 16) data.set(randomBytes(Math.min(1 << 16, data.length - off)), off);
const gear = createGearTable(new Uint8Array(32).fill(7));

function mbps(ms: number): string {
  return ((data.length / 1e6) / (ms / 1000)).toFixed(0);
}

for (let round = 0; round < 5; round++) {
  let t = performance.now();
  const cuts = cutPoints(data, {}, gear);
  const tCuts = performance.now() - t;

  t = performance.now();
  const chunker = new Chunker({}, gear);
  let n = 0;
  const step = 4 * 1024 * 1024;
  for (let off = 0; off < data.length; off += step) n += chunker.push(data.subarray(off, off + step)).length;
  n += chunker.finish().length;
  const tStream = performance.now() - t;

  const mean = data.length / cuts.length / 1024 / 1024;
  console.log(
    `round ${round}: cutPoints ${mbps(tCuts)} MB/s, Chunker(4 MiB pushes) ${mbps(tStream)} MB/s, ` +
      `${cuts.length} chunks (${n}), mean ${mean.toFixed(2)} MiB`,
  );
}

// Every byte hashed (min = 64): the raw speed of the gear loop.
const t = performance.now();
const small = cutPoints(data, { min: 64, avg: 1024 * 1024, max: 8 * 1024 * 1024 }, gear);
console.log(`gear loop, every byte hashed: ${mbps(performance.now() - t)} MB/s (${small.length} chunks)`);
