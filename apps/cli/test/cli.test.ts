// The CLI as a process, for everything that needs no repository: help, version, completion, usage
// errors, repository URLs, the config file, and passwords.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { baseEnv, put, removeDir, runCli, tempDir } from './helpers.js';

let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await tempDir();
  env = baseEnv(dir);
});
afterAll(() => removeDir(dir));

const COMMANDS = ['init', 'backup', 'snapshots', 'ls', 'diff', 'stats', 'restore', 'dump', 'check', 'forget', 'prune', 'copy', 'key', 'unlock', 'version', 'completion'];

describe('help and version', () => {
  test('strata --help lists every command, the global options, examples and exit codes', async () => {
    const r = await runCli(['--help'], { env });
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    for (const o of ['--repo', '--password-file', '--json', '--quiet', '--verbose', '--log-file', '--config']) expect(r.stdout).toContain(o);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('12 wrong password');
  });

  test.each(COMMANDS)('strata %s --help lists its options and an example', async (c) => {
    const r = await runCli([c, '--help'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: strata ${c}`);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toMatch(new RegExp(`\\$ .*strata ${c === 'completion' ? 'completion' : c}`));
    expect(r.stdout).toContain('--repo'); // global options are shown too
  });

  test('backup --help names every option of the design', async () => {
    const r = await runCli(['backup', '--help'], { env });
    for (const o of ['--set', '--type', '--tag', '--exclude', '--exclude-file', '--one-file-system', '--host', '--time', '--stdin', '--stdin-filename', '--detector', '--verify']) {
      expect(r.stdout).toContain(o);
    }
  });

  test('key subcommands have help with examples', async () => {
    for (const sub of ['list', 'add', 'remove', 'passwd']) {
      const r = await runCli(['key', sub, '--help'], { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: strata key ${sub}`);
      expect(r.stdout).toContain('Examples:');
    }
  });

  test('version prints the package version, as text and as JSON', async () => {
    const { version } = JSON.parse(await (await import('node:fs/promises')).readFile(new URL('../package.json', import.meta.url), 'utf8'));
    const text = await runCli(['version'], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(`strata ${version} (node ${process.version}, ${process.platform}/${process.arch})\n`);
    const json = await runCli(['version', '--json'], { env });
    expect(JSON.parse(json.stdout)).toEqual({ version, node: process.version, platform: process.platform, arch: process.arch });
    const flag = await runCli(['--version'], { env });
    expect(flag.stdout.trim()).toBe(version);
  });
});

describe('usage errors', () => {
  test('an unknown command fails with exit 1 and a hint', async () => {
    const r = await runCli(['bakup'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^strata: unknown command 'bakup'/m);
    expect(r.stderr).toContain('strata --help');
  });

  test('an unknown option fails with exit 1', async () => {
    const r = await runCli(['snapshots', '--frobnicate'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown option '--frobnicate'");
  });

  test('a bad choice names the allowed values', async () => {
    const r = await runCli(['backup', '/tmp', '--type', 'weekly'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("argument 'weekly' is invalid. Allowed choices are full, incremental, differential, snapshot.");
  });

  test('no repository anywhere says how to give one', async () => {
    const r = await runCli(['snapshots'], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('strata: no repository given; use --repo URL, set STRATA_REPOSITORY, or put "repository" in strata.config.json\n');
  });

  test('an unknown scheme says which are installed', async () => {
    const r = await runCli(['snapshots', '--repo', 'ftp:host/backups'], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('strata: unknown repository scheme "ftp:" in "ftp:host/backups"; installed schemes are azure:, gs:, local:, s3: (a plain path is a local folder)\n');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('--verbose adds the stack trace', async () => {
    const r = await runCli(['snapshots', '--repo', 'ftp:x', '--verbose'], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  test('backup of a path that does not exist names it', async () => {
    const missing = path.join(dir, 'no-such-folder');
    const r = await runCli(['backup', missing, '--repo', path.join(dir, 'repo-none')], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`strata: cannot back up ${missing}: no such file or folder; check the path\n`);
  });

  test('backup with nothing to back up says what to give', async () => {
    const r = await runCli(['backup', '--repo', path.join(dir, 'r')], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nothing to back up; give one or more paths, --stdin, or --set NAME');
  });

  test('a bad --time is named', async () => {
    const r = await runCli(['backup', dir, '--time', 'yesterday', '--repo', path.join(dir, 'r')], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--time expects an ISO 8601 time');
  });

  test('backup option conflicts and a missing exclude file are named before anything starts', async () => {
    const repo = path.join(dir, 'never-created');
    const both = await runCli(['backup', dir, '--stdin', '--repo', repo], { env, cwd: dir });
    expect(both.code).toBe(1);
    expect(both.stderr).toBe('strata: --stdin backs up stdin only; remove the paths, or drop --stdin\n');
    const name = await runCli(['backup', dir, '--stdin-filename', 'x.sql', '--repo', repo], { env, cwd: dir });
    expect(name.code).toBe(1);
    expect(name.stderr).toBe('strata: --stdin-filename needs --stdin\n');
    const missing = path.join(dir, 'no-excludes.txt');
    const ex = await runCli(['backup', dir, '--exclude-file', missing, '--repo', repo], { env, cwd: dir });
    expect(ex.code).toBe(1);
    expect(ex.stderr).toMatch(new RegExp(`^strata: cannot read the exclude file ${missing} \\(.*ENOENT.*\\); check --exclude-file\n$`));
  });

  test('init with an unknown cipher lists the ciphers', async () => {
    const r = await runCli(['init', '--repo', path.join(dir, 'r'), '--encryption', 'rot13'], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('strata: unknown encryption "rot13"; choose one of aes-256-gcm, chacha20-poly1305, none\n');
  });
});

describe('config file', () => {
  const withConfig = async (name: string, content: unknown) => {
    const cwd = path.join(dir, name);
    await put(path.join(cwd, 'strata.config.json'), typeof content === 'string' ? content : JSON.stringify(content));
    return cwd;
  };

  test('a wrong type names the key and what was expected', async () => {
    const cwd = await withConfig('bad-type', { repository: '/r', sets: { web: { paths: '/srv/web' } } });
    const r = await runCli(['snapshots'], { env, cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('strata: config strata.config.json: sets.web.paths: expected an array of strings\n');
  });

  test('an unknown key is named', async () => {
    const cwd = await withConfig('bad-key', { repository: '/r', sets: { web: { paths: ['/srv'], exclude: ['*.tmp'] } } });
    const r = await runCli(['snapshots'], { env, cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('strata: config strata.config.json: sets.web.exclude: unknown key\n');
  });

  test('several problems are all named, with --config', async () => {
    const cwd = await withConfig('many', '{}');
    const file = path.join(cwd, 'other.json');
    await writeFile(file, JSON.stringify({ repository: 5, retention: { keepDaily: 'seven' }, copyTo: 's3:x' }));
    const r = await runCli(['snapshots', '--config', 'other.json'], { env, cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('strata: config other.json: ');
    expect(r.stderr).toContain('repository: expected a repository URL');
    expect(r.stderr).toContain('retention.keepDaily: expected a whole number (-1 for unlimited)');
    expect(r.stderr).toContain('copyTo: expected an array of repository URLs');
  });

  test('invalid JSON is reported as such', async () => {
    const cwd = await withConfig('json', '{"repository": ');
    const r = await runCli(['snapshots'], { env, cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^strata: config strata\.config\.json: not valid JSON \(.+\); fix the file\n$/);
  });

  test('a missing --config file is an error, a missing default one is not', async () => {
    const r = await runCli(['snapshots', '--config', 'nope.json', '--repo', 'ftp:x'], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('strata: config nope.json: cannot read it (no such file); check the --config path\n');
  });

  test('backup --set of an unknown set lists the known ones', async () => {
    const cwd = await withConfig('sets', { repository: './repo', sets: { web: { paths: ['.'] }, db: { paths: ['.'] } } });
    const r = await runCli(['backup', '--set', 'mail'], { env, cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('strata: backup set "mail" is not in config strata.config.json; known sets are web, db\n');
  });

  test('a plugin package named in the config that is not installed is named', async () => {
    const cwd = await withConfig('plugin-missing', { repository: '/r', plugins: ['strata-plugin-does-not-exist'] });
    const r = await runCli(['snapshots'], { env, cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('plugin package "strata-plugin-does-not-exist" is not installed');
  });

  test('a plugin package is loaded by name (an installed package that is already built in is accepted once)', async () => {
    const cwd = await withConfig('plugin-by-name', { plugins: ['@strata/store-local', '@strata/detector-sha256'] });
    const r = await runCli(['snapshots', '--repo', 'nope:x'], { env, cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('installed schemes are azure:, gs:, local:, s3:');
  });

  test('a plugin that registers a scheme already installed is refused', async () => {
    const cwd = await withConfig('plugin-dup', { repository: 'mem:x', plugins: ['./dup-plugin.mjs'] });
    await writeFile(
      path.join(cwd, 'dup-plugin.mjs'),
      `export const plugins = [{ kind: 'store', scheme: 's3', summary: 'x', parse: (u) => ({ u }), redact: (u) => u, create() { throw new Error('unused'); }, describe: (o) => o.u }];\n`,
    );
    const r = await runCli(['snapshots'], { env, cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/registers URL scheme "s3:", which @strata\/store-s3 already provides/);
  });

  test('a plugin from the config adds its scheme to the installed ones', async () => {
    const cwd = await withConfig('plugin-ok', { plugins: ['./mem-plugin.mjs'] });
    await writeFile(
      path.join(cwd, 'mem-plugin.mjs'),
      `export const plugins = [{ kind: 'store', scheme: 'mem', summary: 'memory', parse: (u) => ({ u }), redact: (u) => u, create() { throw new Error('unused'); }, describe: (o) => o.u }];\n`,
    );
    const r = await runCli(['snapshots', '--repo', 'nope:x'], { env, cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('installed schemes are azure:, gs:, local:, mem:, s3:');
  });
});

describe('passwords', () => {
  test('an unreadable password file is named', async () => {
    const r = await runCli(['init', '--repo', path.join(dir, 'pw-repo'), '--password-file', path.join(dir, 'missing-pw')], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`strata: cannot read the password file ${path.join(dir, 'missing-pw')} (no such file); check --password-file\n`);
  });

  test('an empty password file is refused', async () => {
    const file = path.join(dir, 'empty-pw');
    await writeFile(file, '\n');
    const r = await runCli(['init', '--repo', path.join(dir, 'pw-repo'), '--password-file', file], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is empty; write the password in it');
  });

  test('init without a password and without a terminal fails at once', async () => {
    const r = await runCli(['init', '--repo', path.join(dir, 'pw-repo')], { env, cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('strata: no password given and there is no terminal to ask on; use --password-file F, STRATA_PASSWORD_FILE or STRATA_PASSWORD\n');
  });
});

describe('completion', () => {
  test('bash completion is valid bash and knows the commands and options', async () => {
    const r = await runCli(['completion', 'bash'], { env });
    expect(r.code).toBe(0);
    const file = path.join(dir, 'strata.bash');
    await writeFile(file, r.stdout);
    execFileSync('bash', ['-n', file]);
    // Ask the function itself, as bash would on TAB.
    const ask = (line: string) =>
      execFileSync('bash', ['-c', `source ${file}; COMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _strata; printf '%s\\n' "\${COMPREPLY[@]}"`]).toString().split('\n');
    expect(ask(`strata ba ''`.replace(" ''", ''))).toContain('backup');
    expect(ask('strata backup --ex')).toEqual(expect.arrayContaining(['--exclude', '--exclude-file']));
    expect(ask('strata key pa')).toContain('passwd');
    expect(ask("strata restore latest --overwrite ''")).toEqual(expect.arrayContaining(['always', 'if-changed', 'never']));
  });

  test('zsh completion defines _strata with every command', async () => {
    const r = await runCli(['completion', 'zsh'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('#compdef strata\n')).toBe(true);
    for (const c of COMMANDS) expect(r.stdout).toContain(`'${c}:`);
    let hasZsh = true;
    try {
      execFileSync('zsh', ['--version']);
    } catch {
      hasZsh = false;
    }
    if (hasZsh) {
      const file = path.join(dir, '_strata');
      await writeFile(file, r.stdout);
      execFileSync('zsh', ['-n', file]);
    }
  });

  test('an unknown shell is refused', async () => {
    const r = await runCli(['completion', 'fish'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("value 'fish' is invalid for argument 'shell'. Allowed choices are bash, zsh.");
  });
});
