import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '@strata/core';
import { afterAll, describe, expect, test } from 'vitest';
import { compilePatterns, parsePatternText, readPatternFile } from '../src/glob.js';

const latin1 = (bytes: number[]) => Buffer.from(bytes).toString('latin1');

// [patterns, path, isDir, expected]
const cases: [string[], string, boolean, boolean][] = [
  // unanchored: any depth, and everything under a match
  [['*.log'], '/a/b/x.log', false, true],
  [['*.log'], '/x.log', false, true],
  [['*.log'], '/a/b/x.logx', false, false],
  [['*.log'], '/a/x.log/y', false, true],
  [['cache'], '/srv/cache', true, true],
  [['cache'], '/srv/cache/a/b', false, true],
  [['cache'], '/srv/cachex', false, false],
  [['cache'], '/srv/xcache', false, false],
  [['app/logs'], '/srv/app/logs/today', false, true],
  [['app/logs'], '/srv/app/x/logs', false, false],
  // anchored
  [['/srv'], '/srv/app', false, true],
  [['/srv'], '/srv', true, true],
  [['/srv'], '/home/srv', false, false],
  [['/srv/*/logs'], '/srv/app/logs/x', false, true],
  [['/srv/*/logs'], '/srv/a/b/logs', false, false],
  [['/a/b'], 'a/b', false, true],
  // **
  [['/srv/**/logs'], '/srv/a/b/logs', true, true],
  [['/srv/**/logs'], '/srv/logs', true, true],
  [['/srv/**/logs'], '/var/srv/logs', true, false],
  [['**/logs'], '/logs', false, true],
  [['a/**/b'], '/x/a/b', false, true],
  [['a/**/b'], '/x/a/y/z/b', false, true],
  [['a/**/b'], '/x/a/y', false, false],
  [['/a/**/**/b'], '/a/b', false, true],
  [['**'], '/anything/at/all', false, true],
  [['/x/**'], '/x', true, true],
  [['/x/**'], '/y', true, false],
  // wildcards and classes
  [['*'], '/.hidden', false, true],
  [['/*'], '/a/b', false, true],
  [['?.txt'], '/a.txt', false, true],
  [['?.txt'], '/ab.txt', false, false],
  [['[abc].txt'], '/b.txt', false, true],
  [['[abc].txt'], '/d.txt', false, false],
  [['[a-c]x'], '/bx', false, true],
  [['[a-c]x'], '/dx', false, false],
  [['[!a-c]x'], '/dx', false, true],
  [['[!a-c]x'], '/bx', false, false],
  [['[^a-c]x'], '/bx', false, false],
  [['[]]'], '/]', false, true],
  [['[a-]'], '/-', false, true],
  [['[\\]]'], '/]', false, true],
  [['x*y*z'], '/xAAyBBz', false, true],
  [['x*y*z'], '/xAAzBBy', false, false],
  // escapes and regex metacharacters are literal
  [['\\*.txt'], '/*.txt', false, true],
  [['\\*.txt'], '/a.txt', false, false],
  [['\\[a\\]'], '/[a]', false, true],
  [['a.b'], '/a.b', false, true],
  [['a.b'], '/axb', false, false],
  [['(x)+{1}$^|'], '/(x)+{1}$^|', false, true],
  [['*(x)+'], '/q(x)+', false, true],
  [['*(x)+'], '/qxx', false, false],
  [['\\!important'], '/!important', false, true],
  // names that are not ASCII, not UTF-8 (latin1-decoded), or hold a newline
  [['?'], '/é', false, true],
  [['?'], '/日', false, true],
  [['??'], `/${latin1([0xe9, 0xff])}`, false, true],
  [[`${latin1([0xff])}*`], `/d/${latin1([0xff, 0x80, 0x41])}`, false, true],
  [['a?b'], '/a\nb', false, true],
  [['*'], '/a\nb', false, true],
  // directories only
  [['cache/'], '/a/cache', true, true],
  [['cache/'], '/a/cache', false, false],
  [['cache/'], '/a/cache/f', false, true],
  [['/a/cache/'], '/a/cache', true, true],
  // negation: the last matching pattern decides
  [['*.log', '!keep.log'], '/a/x.log', false, true],
  [['*.log', '!keep.log'], '/a/keep.log', false, false],
  [['!keep.log', '*.log'], '/a/keep.log', false, true],
  [['cache', '!cache/keep'], '/a/cache/keep/x', false, false],
  [['cache', '!cache/keep'], '/a/cache/other', false, true],
  [['!only-negated'], '/only-negated', false, false],
  // nothing
  [[], '/a', false, false],
  [[''], '/a', false, false],
];

describe('compilePatterns().matches', () => {
  test.each(cases)('%j on %j (dir %s) -> %s', (patterns, path, isDir, expected) => {
    expect(compilePatterns(patterns).matches(path, isDir)).toBe(expected);
  });

  test.each(['[abc', 'a\\', '[]', '[z-a]', '/x/[!'])('rejects the malformed pattern %j', (p) => {
    expect(() => compilePatterns([p])).toThrow(InvalidArgumentError);
  });

  test('drops empty patterns and reports emptiness', () => {
    expect(compilePatterns([]).empty).toBe(true);
    expect(compilePatterns(['', '*.x']).patterns).toEqual(['*.x']);
  });
});

describe('compilePatterns().matchesChildOf', () => {
  const cases2: [string[], string, boolean][] = [
    [['/home/user/docs/*.txt'], '/', true],
    [['/home/user/docs/*.txt'], '/home', true],
    [['/home/user/docs/*.txt'], '/home/user', true],
    [['/home/user/docs/*.txt'], '/home/user/docs', true],
    [['/home/user/docs/*.txt'], '/home/other', false],
    [['/home/user/docs/*.txt'], '/etc', false],
    [['/home/*/docs'], '/home/anyone', true],
    [['/home/**/docs'], '/home/a/b/c', true],
    [['*.txt'], '/anything', true],
    [['/srv'], '/srv/app', true],
    [['!/srv'], '/srv', false],
    [[], '/', false],
  ];
  test.each(cases2)('%j below %j -> %s', (patterns, dir, expected) => {
    expect(compilePatterns(patterns).matchesChildOf(dir)).toBe(expected);
  });
});

describe('compilePatterns().matchesAllBelow', () => {
  const cases3: [string[], string, boolean][] = [
    [['cache'], '/a/cache', true],
    [['cache'], '/a', false],
    [['cache/'], '/a/cache', true],
    [['cache', '!cache/keep'], '/a/cache', false],
    [['/a/cache', '!/a/cache/keep'], '/a/cache', false],
    [['/a/cache', '!/b/keep'], '/a/cache', true],
    [['/a/cache', '!/a/cache'], '/a/cache', false],
  ];
  test.each(cases3)('%j at %j -> %s', (patterns, dir, expected) => {
    expect(compilePatterns(patterns).matchesAllBelow(dir)).toBe(expected);
  });
});

describe('pattern files', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('parsePatternText ignores comments and blank lines and trims', () => {
    expect(parsePatternText('# comment\n\n  *.log  \r\n/srv/cache/\r\n   # indented comment\n!keep')).toEqual([
      '*.log',
      '/srv/cache/',
      '!keep',
    ]);
  });

  test('readPatternFile reads UTF-8, falls back to latin1, and names a missing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-glob-'));
    dirs.push(dir);
    const utf8 = join(dir, 'utf8');
    await writeFile(utf8, '# excludes\n*.tmp\n\nnaïve/\n');
    expect(await readPatternFile(utf8)).toEqual(['*.tmp', 'naïve/']);
    const raw = join(dir, 'latin1');
    await writeFile(raw, Buffer.concat([Buffer.from('x\n'), Buffer.from([0xff, 0x41, 0x0a])]));
    const patterns = await readPatternFile(raw);
    expect(patterns).toEqual(['x', latin1([0xff, 0x41])]);
    expect(compilePatterns(patterns).matches(`/d/${latin1([0xff, 0x41])}`, false)).toBe(true);
    await expect(readPatternFile(join(dir, 'missing'))).rejects.toBeInstanceOf(NotFoundError);
  });
});
