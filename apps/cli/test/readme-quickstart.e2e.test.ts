/**
 * The root README's quickstart, run as written (in bash, from the root of this checkout), with its
 * /tmp paths moved into a temporary folder: it must end with "restored exactly" and a clean check.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { baseEnv, removeDir, tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await tempDir('strata-quickstart-');
});
afterAll(async () => {
  await removeDir(dir);
});

test('the README quickstart works verbatim: restored exactly, check clean', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /## Quickstart[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  const script = path.join(dir, 'quickstart.sh');
  writeFileSync(script, block!.replaceAll('/tmp/strata-', `${dir}/strata-`));
  const r = spawnSync('bash', ['-O', 'expand_aliases', script], { cwd: ROOT, env: baseEnv(dir), encoding: 'utf8' });
  expect(r.stderr).not.toMatch(/^diff:|No such file/m);
  expect(r.stdout).toContain('restored exactly');
  expect(r.stdout).toMatch(/no errors were found/);
  expect(r.status).toBe(0);
});
