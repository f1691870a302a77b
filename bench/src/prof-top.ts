/**
 * Summarizes V8 CPU profiles (`node --cpu-prof`, or `pnpm bench --cpu-prof`): self time per function,
 * per profile file (one per thread) and over all of them.
 *
 *   node --import tsx bench/src/prof-top.ts DIR_OR_FILES... [--top 25]
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function collect(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (statSync(a).isDirectory()) {
      for (const f of readdirSync(a, { recursive: true }) as string[]) if (f.endsWith('.cpuprofile')) out.push(join(a, f));
    } else out.push(a);
  }
  return out.sort();
}

function selfTimes(p: Profile): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const times = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i]);
    if (!node) continue;
    const dt = p.timeDeltas[i + 1] ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^file:\/\//, '').split('/').slice(-3).join('/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    times.set(key, (times.get(key) ?? 0) + dt);
  }
  return times;
}

function print(title: string, times: Map<string, number>, top: number): void {
  let total = 0;
  for (const v of times.values()) total += v;
  console.log(`\n${title}: ${(total / 1000).toFixed(0)} ms sampled`);
  const rows = [...times].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, v] of rows) console.log(`${(v / 1000).toFixed(0).padStart(8)} ms ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
}

const argv = process.argv.slice(2);
const ti = argv.indexOf('--top');
const top = ti >= 0 ? Number(argv.splice(ti, 2)[1]) : 25;
const files = collect(argv);
if (files.length === 0) {
  console.error('prof-top: no .cpuprofile files given');
  process.exit(2);
}
const all = new Map<string, number>();
for (const f of files) {
  const t = selfTimes(JSON.parse(readFileSync(f, 'utf8')) as Profile);
  for (const [k, v] of t) all.set(k, (all.get(k) ?? 0) + v);
  print(basename(f), t, Math.min(top, 12));
}
if (files.length > 1) print('all threads', all, top);
