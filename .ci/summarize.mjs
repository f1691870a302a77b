// Sums vitest's per-package "Tests" lines from a turbo log into one closing line:
// "<label>: N passed, N failed, N skipped".
import { readFileSync } from 'node:fs';

const [file, label = 'tests'] = process.argv.slice(2);
const text = readFileSync(file, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
const totals = { passed: 0, failed: 0, skipped: 0 };
for (const line of text.split('\n')) {
  const m = line.match(/^\S*:test:\s+Tests\s+(.*)$/);
  if (!m) continue;
  for (const kind of Object.keys(totals)) {
    const n = m[1].match(new RegExp(`(\\d+) ${kind}`));
    if (n) totals[kind] += Number(n[1]);
  }
}
console.log(`${label}: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
