import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { setTimesNs } from '../src/fsx.js';
import { tmpDir } from './helpers.js';

test('setTimesNs sets exact nanosecond times on many entries at once, awkward names included', async () => {
  const dir = tmpDir('strata-fsx-');
  const j = (name: string | Buffer) => Buffer.concat([Buffer.from(dir), Buffer.from('/'), Buffer.from(name)]);
  const entries: { path: Buffer; ns: bigint; symlink: boolean }[] = [];
  let ns = 1_700_000_000_123_456_789n;
  for (let i = 0; i < 40; i++) {
    const p = j(`f${i}`);
    fs.writeFileSync(p, 'x');
    // Every fourth entry shares the previous time; the others differ by a nanosecond or more.
    if (i % 4 !== 0) ns += BigInt(i) * 7n + 1n;
    entries.push({ path: p, ns, symlink: false });
  }
  const odd = [j(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xff])), j('new\nline'), j('-starts-with-dash'), j('sp ace')];
  for (const p of odd) fs.writeFileSync(p, 'y');
  odd.forEach((p, i) => entries.push({ path: p, ns: -1_000_000_001n * BigInt(i + 1), symlink: false }));
  fs.mkdirSync(j('sub'));
  entries.push({ path: j('sub'), ns: 1_600_000_000_999_999_999n, symlink: false });
  fs.symlinkSync('does-not-exist', j('link'));
  entries.push({ path: j('link'), ns: 1_500_000_000_000_000_001n, symlink: true });
  // A path that is gone is not created, and the others still get their times.
  entries.push({ path: j('gone'), ns: 1n, symlink: false });

  const failed = await setTimesNs(entries);
  for (const e of entries) {
    if (e.path.equals(j('gone'))) continue;
    expect(fs.lstatSync(e.path, { bigint: true }).mtimeNs, path.basename(e.path.toString())).toBe(e.ns);
  }
  expect(fs.existsSync(j('gone'))).toBe(false);
  expect(failed).toEqual([]);
});
