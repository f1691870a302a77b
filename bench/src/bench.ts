/**
 * Strata's benchmark harness: strata beside restic (and borg) on the same generated dataset, in the
 * same run, alternating tools, whole processes timed (wall clock) and measured (peak RSS via
 * /usr/bin/time). Not a test: nothing here asserts a time.
 *
 *   pnpm bench [--profile mixed|manyfiles] [--size 1GiB] [--files N] [--runs 3] [--against restic,borg]
 *              [--quick] [--seed 42] [--cpu-prof] [--keep] [--generator FILE]
 *
 * Per run and tool: a fresh copy of the cached dataset, then init, first backup, no-change backup,
 * `--mutate --percent 1` on the copy, backup after the mutation, restore of the latest snapshot,
 * check --read-data, and the repository's size. Medians over runs and strata/other ratios go to
 * stdout, bench/results/<timestamp>.json and bench/RESULTS.md (quick runs: bench/results/quick/ only).
 */
import { type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fallbackGenerate, fallbackMutate } from './fallback-dataset.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BENCH = join(ROOT, 'bench');
const CACHE = join(BENCH, '.cache');
const CLI = join(ROOT, 'apps/cli/dist/cli.js');
const DEFAULT_GENERATOR = resolve(ROOT, '../shared/bench/gen-dataset.mjs');
const TIME = '/usr/bin/time';
const PASSWORD = 'bench-password-not-secret';

// ------------------------------------------------------------------ options

interface Options {
  profile: 'mixed' | 'manyfiles';
  size: number | null;
  sizeLabel: string;
  files: number | null;
  runs: number;
  against: string[];
  quick: boolean;
  seed: number;
  cpuProf: boolean;
  keep: boolean;
  generator: string | null;
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|K|M|G|T)?$/i.exec(s.trim());
  if (!m) throw new Error(`--size "${s}" is not a size like 64MiB or 1GiB`);
  const units: Record<string, number> = {
    b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tib: 1024 ** 4,
    kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  };
  return Math.round(Number(m[1]) * units[(m[2] ?? 'b').toLowerCase()]);
}

function sizeLabel(bytes: number): string {
  for (const [unit, n] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return `${bytes}B`;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string' },
      size: { type: 'string' },
      files: { type: 'string' },
      runs: { type: 'string' },
      against: { type: 'string' },
      quick: { type: 'boolean', default: false },
      seed: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      generator: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(
      'pnpm bench [--profile mixed|manyfiles] [--size 1GiB] [--files N] [--runs 3] [--against restic,borg]\n' +
        '           [--quick] [--seed 42] [--cpu-prof] [--keep] [--generator FILE]',
    );
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const profile = (values.profile ?? 'mixed') as Options['profile'];
  if (profile !== 'mixed' && profile !== 'manyfiles') throw new Error(`--profile must be mixed or manyfiles, got "${profile}"`);
  let size: number | null = values.size ? parseSize(values.size) : null;
  if (quick && size === null && values.files === undefined) size = 64 * 1024 ** 2;
  if (profile === 'mixed' && size === null) size = 1024 ** 3;
  const files = values.files ? Number(values.files) : null;
  if (files !== null && !(Number.isSafeInteger(files) && files > 0)) throw new Error('--files must be a positive integer');
  const runs = Number(values.runs ?? (quick ? 1 : 3));
  if (!(Number.isSafeInteger(runs) && runs > 0)) throw new Error('--runs must be a positive integer');
  const seed = Number(values.seed ?? 42);
  if (!(Number.isSafeInteger(seed) && seed >= 0)) throw new Error('--seed must be a non-negative integer');
  const label = files !== null ? `${files}files` : size !== null ? sizeLabel(size) : '100000files';
  return {
    profile,
    size,
    sizeLabel: label,
    files,
    runs,
    against: (values.against ?? 'restic,borg').split(',').map((s) => s.trim()).filter(Boolean),
    quick,
    seed,
    cpuProf: values['cpu-prof'] ?? false,
    keep: values.keep ?? false,
    generator: values.generator ?? process.env.STRATA_BENCH_GENERATOR ?? null,
  };
}

// ------------------------------------------------------------------ processes

interface Measurement {
  /** Wall-clock seconds of the whole process. */
  wall: number;
  /** Peak resident set size in KiB (null when /usr/bin/time is missing). */
  rssKiB: number | null;
  /** User + system CPU seconds of the process and its threads (null without /usr/bin/time). */
  cpu: number | null;
}

class CommandError extends Error {}

let logDir = '';
let haveTime = false;
/** The label of the command being built (names its log, and its CPU profile folder). */
let currentLabel = '';

/** Runs a command to completion; its output goes to a log file. Throws CommandError on a non-zero exit. */
async function measure(label: string, argv: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<Measurement> {
  const logFile = join(logDir, `${label}.log`);
  const timeFile = join(logDir, `${label}.time`);
  const fd = openSync(logFile, 'a');
  const full = haveTime ? [TIME, '-f', '%e %M %U %S', '-o', timeFile, '--', ...argv] : argv;
  const opts: SpawnOptions = { cwd, env, stdio: ['ignore', fd, fd] };
  const start = process.hrtime.bigint();
  const code = await new Promise<number>((res, rej) => {
    const child = spawn(full[0], full.slice(1), opts);
    child.on('error', rej);
    child.on('close', (c, sig) => res(c ?? (sig ? 128 : 1)));
  });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  closeSync(fd);
  if (code !== 0) {
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    throw new CommandError(`${label}: "${argv.join(' ')}" exited with ${code}; log ${logFile}:\n${tail}`);
  }
  let rssKiB: number | null = null;
  let cpu: number | null = null;
  if (haveTime) {
    // The last line: "<elapsed> <maxrss KiB> <user s> <sys s>" (earlier lines may carry a "Command exited" note).
    const [, kib, user, sys] = (readFileSync(timeFile, 'utf8').trim().split('\n').at(-1) ?? '').split(/\s+/).map(Number);
    rssKiB = Number.isFinite(kib) ? kib : null;
    cpu = Number.isFinite(user) && Number.isFinite(sys) ? user + sys : null;
  }
  return { wall, rssKiB, cpu };
}

function run(argv: string[], cwd = ROOT, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(argv[0], argv.slice(1), { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`"${argv.join(' ')}" exited with ${r.status}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

// ------------------------------------------------------------------ tools

interface Tool {
  name: string;
  version: string;
  env: NodeJS.ProcessEnv;
  init(repo: string): string[];
  backup(repo: string, path: string, n: number): string[];
  restore(repo: string, target: string): { argv: string[]; cwd?: string };
  check(repo: string): string[];
}

function strataTool(opts: Options, work: string): Tool {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "pnpm build" first`);
  const node = process.execPath;
  const version = run([node, CLI, 'version']).trim();
  const env = { ...process.env, STRATA_PASSWORD: PASSWORD, STRATA_CACHE_DIR: join(work, 'cache', 'strata') };
  const nodeArgs = () => (opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(logDir, 'prof', currentLabel)] : []);
  const cli = (...args: string[]) => [node, ...nodeArgs(), CLI, ...args];
  return {
    name: 'strata',
    version,
    env,
    init: (repo) => cli('--repo', repo, 'init'),
    backup: (repo, path) => cli('--repo', repo, 'backup', path),
    restore: (repo, target) => ({ argv: cli('--repo', repo, 'restore', 'latest', '--target', target) }),
    check: (repo) => cli('--repo', repo, 'check', '--read-data'),
  };
}

function resticTool(bin: string, work: string): Tool {
  const version = run([bin, 'version']).trim();
  const env = { ...process.env, RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: join(work, 'cache', 'restic') };
  return {
    name: 'restic',
    version,
    env,
    init: (repo) => [bin, '-r', repo, 'init'],
    backup: (repo, path) => [bin, '-r', repo, 'backup', path],
    restore: (repo, target) => ({ argv: [bin, '-r', repo, 'restore', 'latest', '--target', target] }),
    check: (repo) => [bin, '-r', repo, 'check', '--read-data'],
  };
}

function borgTool(bin: string, work: string): Tool {
  const version = run([bin, '--version']).trim();
  const env = {
    ...process.env,
    BORG_PASSPHRASE: PASSWORD,
    BORG_CACHE_DIR: join(work, 'cache', 'borg'),
    BORG_CONFIG_DIR: join(work, 'cache', 'borg-config'),
    BORG_BASE_DIR: join(work, 'cache', 'borg-base'),
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
  };
  let last = '';
  return {
    name: 'borg',
    version,
    env,
    init: (repo) => [bin, 'init', '--encryption=repokey-blake2', repo],
    backup: (repo, path, n) => {
      last = `bench-${n}`;
      return [bin, 'create', '--compression', 'auto,zstd,3', `${repo}::${last}`, path];
    },
    // borg extracts into the working directory, keeping the path without its leading slash.
    restore: (repo, target) => ({ argv: [bin, 'extract', `${repo}::${last}`], cwd: target }),
    check: (repo) => [bin, 'check', '--verify-data', repo],
  };
}

// ------------------------------------------------------------------ dataset

interface Dataset {
  dir: string;
  files: number;
  bytes: number;
  generator: string;
}

async function treeStats(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else {
        files++;
        if (e.isFile()) bytes += (await lstat(p)).size;
      }
    }
  }
  return { files, bytes };
}

async function duBytes(dir: string): Promise<number> {
  return (await treeStats(dir)).bytes;
}

function generatorPath(opts: Options): string | null {
  const p = opts.generator ?? DEFAULT_GENERATOR;
  return existsSync(p) ? p : null;
}

async function ensureDataset(opts: Options): Promise<Dataset> {
  const gen = generatorPath(opts);
  if (!gen && opts.generator) throw new Error(`--generator ${opts.generator} does not exist`);
  const genId = gen ? createHash('sha256').update(readFileSync(gen)).digest('hex').slice(0, 8) : 'fallback1';
  const key = `${opts.profile}-${opts.sizeLabel}-seed${opts.seed}-${genId}`;
  const dir = join(CACHE, 'datasets', key);
  const meta = join(CACHE, 'datasets', `${key}.json`);
  if (existsSync(meta) && existsSync(dir)) return JSON.parse(await readFile(meta, 'utf8')) as Dataset;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  console.log(`generating ${key} ...`);
  const t = Date.now();
  if (gen) {
    const args = [process.execPath, gen, '--out', dir, '--profile', opts.profile, '--seed', String(opts.seed)];
    if (opts.files !== null) args.push('--files', String(opts.files));
    else if (opts.size !== null) args.push('--size', String(opts.size));
    process.stdout.write(run(args));
  } else {
    console.log(`(${DEFAULT_GENERATOR} not found: using the built-in fallback generator)`);
    await fallbackGenerate(dir, opts.profile, opts.size ?? (opts.files ?? 100_000) * 4096, opts.seed);
  }
  const stats = await treeStats(dir);
  const ds: Dataset = { dir, ...stats, generator: gen ? `gen-dataset.mjs ${genId}` : 'fallback' };
  await writeFile(meta, JSON.stringify(ds, null, 2));
  console.log(`dataset ready in ${((Date.now() - t) / 1000).toFixed(1)} s: ${stats.files} files, ${mib(stats.bytes)} MiB`);
  return ds;
}

async function mutate(opts: Options, dir: string): Promise<void> {
  const gen = generatorPath(opts);
  if (gen) run([process.execPath, gen, '--mutate', dir, '--percent', '1', '--seed', '7']);
  else await fallbackMutate(dir, 1, 7);
}

// ------------------------------------------------------------------ the benchmark

const STEPS = ['firstBackup', 'noChangeBackup', 'mutatedBackup', 'restore', 'checkReadData'] as const;
type Step = (typeof STEPS)[number];

interface RunResult {
  steps: Record<Step, Measurement>;
  init: Measurement;
  /** Repository bytes after the first backup, and after all three. */
  repoBytesFirst: number;
  repoBytesFinal: number;
  peakRssKiB: number | null;
  restoreVerified: boolean | null;
}

async function benchTool(tool: Tool, ds: Dataset, opts: Options, work: string, runNo: number): Promise<RunResult> {
  const base = join(work, tool.name);
  await rm(base, { recursive: true, force: true });
  await mkdir(base, { recursive: true });
  const data = join(base, 'data');
  const repo = join(base, 'repo');
  const target = join(base, 'restore');
  await mkdir(target);
  run(['cp', '-a', ds.dir, data]);
  const tag = `${tool.name}-run${runNo}`;
  const m = (step: string, build: () => string[] | { argv: string[]; cwd?: string }) => {
    currentLabel = `${tag}-${step}`;
    const cmd = build();
    return Array.isArray(cmd) ? measure(currentLabel, cmd, tool.env) : measure(currentLabel, cmd.argv, tool.env, cmd.cwd);
  };

  const init = await m('init', () => tool.init(repo));
  const first = await m('first-backup', () => tool.backup(repo, data, 1));
  const repoBytesFirst = await duBytes(repo);
  const noChange = await m('nochange-backup', () => tool.backup(repo, data, 2));
  await mutate(opts, data);
  const mutated = await m('mutated-backup', () => tool.backup(repo, data, 3));
  const repoBytesFinal = await duBytes(repo);
  const restore = await m('restore', () => tool.restore(repo, target));
  // Verify the restore against the mutated copy (untimed): every byte in quick mode and the first run.
  let restoreVerified: boolean | null = null;
  if (opts.quick || runNo === 1) {
    const restored = join(target, data.replace(/^\/+/, ''));
    const diff = spawnSync('diff', ['-rq', '--no-dereference', data, restored], { encoding: 'utf8' });
    restoreVerified = diff.status === 0;
    if (!restoreVerified) console.warn(`  ${tool.name}: restored tree differs from the source:\n${(diff.stdout + diff.stderr).slice(0, 2000)}`);
  }
  const check = await m('check', () => tool.check(repo));
  const steps = { firstBackup: first, noChangeBackup: noChange, mutatedBackup: mutated, restore, checkReadData: check };
  const rss = [init, ...Object.values(steps)].map((s) => s.rssKiB).filter((v): v is number => v !== null);
  if (!opts.keep) await rm(base, { recursive: true, force: true });
  return { steps, init, repoBytesFirst, repoBytesFinal, peakRssKiB: rss.length ? Math.max(...rss) : null, restoreVerified };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const mib = (b: number) => (b / 1024 ** 2).toFixed(1);

interface Summary {
  firstBackup: number;
  noChangeBackup: number;
  mutatedBackup: number;
  restore: number;
  checkReadData: number;
  repoMiB: number;
  peakRssMiB: number | null;
}

function summarize(runs: RunResult[]): Summary {
  const s = (step: Step) => median(runs.map((r) => r.steps[step].wall));
  const rss = runs.map((r) => r.peakRssKiB).filter((v): v is number => v !== null);
  return {
    firstBackup: s('firstBackup'),
    noChangeBackup: s('noChangeBackup'),
    mutatedBackup: s('mutatedBackup'),
    restore: s('restore'),
    checkReadData: s('checkReadData'),
    repoMiB: median(runs.map((r) => r.repoBytesFirst)) / 1024 ** 2,
    peakRssMiB: rss.length ? median(rss) / 1024 : null,
  };
}

const ROWS: { key: keyof Summary; label: string; unit: string }[] = [
  { key: 'firstBackup', label: 'first backup', unit: 's' },
  { key: 'noChangeBackup', label: 'no-change backup', unit: 's' },
  { key: 'mutatedBackup', label: 'backup after 1% mutation', unit: 's' },
  { key: 'restore', label: 'restore', unit: 's' },
  { key: 'checkReadData', label: 'check --read-data', unit: 's' },
  { key: 'repoMiB', label: 'repository size after first backup', unit: 'MiB' },
  { key: 'peakRssMiB', label: 'peak RSS (largest of all commands)', unit: 'MiB' },
];

/** Targets of the speed issue, as strata/restic ratios. */
const TARGETS: Record<Options['profile'], Partial<Record<keyof Summary, number>>> = {
  mixed: { firstBackup: 0.5, noChangeBackup: 0.5, mutatedBackup: 0.7, restore: 0.6, checkReadData: 0.7, repoMiB: 1.0, peakRssMiB: 1.5 },
  manyfiles: { firstBackup: 0.5, noChangeBackup: 0.3 },
};

function fmt(v: number | null, unit: string): string {
  if (v === null) return 'n/a';
  return unit === 's' ? v.toFixed(2) : v.toFixed(1);
}

function table(opts: Options, summaries: Record<string, Summary>): string {
  const tools = Object.keys(summaries);
  const others = tools.filter((t) => t !== 'strata');
  const head = ['', ...tools.map((t) => `${t}`), ...others.map((o) => `strata/${o}`)];
  const withTarget = others.includes('restic');
  if (withTarget) head.push('target (vs restic)');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of ROWS) {
    const cells = [`${row.label} (${row.unit})`];
    for (const t of tools) cells.push(fmt(summaries[t][row.key], row.unit));
    for (const o of others) {
      const a = summaries.strata?.[row.key];
      const b = summaries[o][row.key];
      cells.push(a != null && b != null && b > 0 ? (a / b).toFixed(2) : 'n/a');
    }
    if (withTarget) {
      const target = TARGETS[opts.profile][row.key];
      const a = summaries.strata?.[row.key];
      const b = summaries.restic[row.key];
      if (target === undefined) cells.push('');
      else if (a == null || b == null || b <= 0) cells.push(`<= ${target}`);
      else cells.push(`<= ${target} ${a / b <= target ? 'met' : 'missed'}`);
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

const STEP_LABELS: Record<Step, string> = {
  firstBackup: 'first backup',
  noChangeBackup: 'no-change backup',
  mutatedBackup: 'backup after 1% mutation',
  restore: 'restore',
  checkReadData: 'check --read-data',
};

/** Median CPU seconds (user + system, all threads) per step: steadier than wall time on a busy machine. */
function cpuTable(results: Record<string, RunResult[]>): string {
  const tools = Object.keys(results).filter((t) => results[t].length > 0);
  const others = tools.filter((t) => t !== 'strata');
  const head = ['CPU seconds (user + system)', ...tools, ...others.map((o) => `strata/${o}`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const step of STEPS) {
    const med: Record<string, number | null> = {};
    for (const t of tools) {
      const xs = results[t].map((r) => r.steps[step].cpu).filter((v): v is number => v !== null);
      med[t] = xs.length ? median(xs) : null;
    }
    const cells = [STEP_LABELS[step], ...tools.map((t) => fmt(med[t], 's'))];
    for (const o of others) {
      const a = med.strata;
      const b = med[o];
      cells.push(a != null && b != null && b > 0 ? (a / b).toFixed(2) : 'n/a');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

async function writeResultsMd(opts: Options, ds: Dataset, meta: Record<string, unknown>, body: string): Promise<void> {
  const file = join(BENCH, 'RESULTS.md');
  const key = `${opts.profile}-${opts.sizeLabel}`;
  const start = `<!-- bench:${key} -->`;
  const end = `<!-- /bench:${key} -->`;
  const section =
    `${start}\n## ${opts.profile}, ${opts.sizeLabel} (${ds.files} files, ${mib(ds.bytes)} MiB), ${opts.runs} run${opts.runs > 1 ? 's' : ''}\n\n` +
    `${meta.date}; ${meta.machine}; ${Object.entries(meta.versions as Record<string, string>)
      .map(([k, v]) => `${k}: ${v.split('\n')[0]}`)
      .join('; ')}; load average ${(meta.loadAverage as number[]).join(' -> ')}. Medians of whole processes; warm page cache.\n\n${body}\n${end}`;
  let text = existsSync(file)
    ? await readFile(file, 'utf8')
    : '# Benchmark results\n\nWritten by `pnpm bench` (see README.md). Each section is replaced when its profile and size run again.\n';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) text = text.slice(0, i) + section + text.slice(j + end.length);
  else text = `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(file, text);
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  haveTime = existsSync(TIME);
  if (!haveTime) console.warn(`${TIME} not found: peak RSS is not measured (apt-get install -y time)`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  logDir = join(CACHE, 'logs', stamp);
  await mkdir(logDir, { recursive: true });
  const work = join(CACHE, 'work');

  const tools: Tool[] = [strataTool(opts, work)];
  for (const name of opts.against) {
    if (name === 'strata') continue;
    const bin = which(name);
    if (!bin) {
      console.warn(`${name} is not installed: skipped (apt-get install -y ${name === 'borg' ? 'borgbackup' : name})`);
      continue;
    }
    if (name === 'restic') tools.push(resticTool(bin, work));
    else if (name === 'borg') tools.push(borgTool(bin, work));
    else console.warn(`unknown tool "${name}": skipped (known: restic, borg)`);
  }

  const ds = await ensureDataset(opts);
  console.log(
    `bench: ${opts.profile} ${opts.sizeLabel} (${ds.files} files, ${mib(ds.bytes)} MiB), ${opts.runs} run(s), ` +
      `tools: ${tools.map((t) => t.name).join(', ')}; logs in ${logDir}`,
  );

  const loadBefore = os.loadavg()[0];
  const results: Record<string, RunResult[]> = Object.fromEntries(tools.map((t) => [t.name, []]));
  let failed = false;
  for (let r = 1; r <= opts.runs; r++) {
    // Alternate the order so neither tool always runs on a warmer machine.
    const k = (r - 1) % tools.length;
    const order = [...tools.slice(k), ...tools.slice(0, k)];
    for (const tool of order) {
      try {
        const res = await benchTool(tool, ds, opts, work, r);
        results[tool.name].push(res);
        const s = res.steps;
        console.log(
          `run ${r} ${tool.name.padEnd(6)} first ${s.firstBackup.wall.toFixed(2)} s, no-change ${s.noChangeBackup.wall.toFixed(2)} s, ` +
            `mutated ${s.mutatedBackup.wall.toFixed(2)} s, restore ${s.restore.wall.toFixed(2)} s, check ${s.checkReadData.wall.toFixed(2)} s, ` +
            `repo ${mib(res.repoBytesFirst)} MiB, first backup CPU ${s.firstBackup.cpu?.toFixed(1) ?? 'n/a'} s, peak RSS ${res.peakRssKiB === null ? 'n/a' : `${(res.peakRssKiB / 1024).toFixed(0)} MiB`}` +
            (res.restoreVerified === false ? ', RESTORE DIFFERS' : ''),
        );
        if (res.restoreVerified === false) failed = true;
      } catch (err) {
        failed = true;
        console.error(`run ${r} ${tool.name}: ${err instanceof CommandError ? err.message : String((err as Error).stack ?? err)}`);
      }
    }
  }

  const summaries: Record<string, Summary> = {};
  for (const [name, runs] of Object.entries(results)) if (runs.length) summaries[name] = summarize(runs);
  const meta = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${os.platform()} ${os.release()}, node ${process.version}`,
    versions: Object.fromEntries(tools.map((t) => [t.name, t.version])),
    /** 1-minute load average at the start and end: other work on the machine skews wall times. */
    loadAverage: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0].toFixed(2))],
  };
  const md = `${table(opts, summaries)}\n\n${cpuTable(results)}`;
  console.log(`\n${md}\n`);
  const json = { ...meta, options: { ...opts, generator: ds.generator }, dataset: { files: ds.files, bytes: ds.bytes }, results, summaries };
  const outDir = opts.quick ? join(BENCH, 'results', 'quick') : join(BENCH, 'results');
  await mkdir(outDir, { recursive: true });
  const out = join(outDir, `${stamp}-${opts.profile}-${opts.sizeLabel}.json`);
  await writeFile(out, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`results: ${out}`);
  if (!opts.quick && summaries.strata) {
    await writeResultsMd(opts, ds, meta, md);
    console.log(`table: ${join(BENCH, 'RESULTS.md')}`);
  }
  if (failed || !summaries.strata) {
    console.error('bench: some commands failed (see above); the figures above cover only the runs that completed');
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
