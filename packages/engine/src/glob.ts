/**
 * Include/exclude patterns with restic's semantics.
 *
 * A pattern is a `/`-separated list of components matched against the components of a POSIX path:
 *   - `*` any run of characters within one component (leading dots too), `?` one character,
 *     `[abc]` `[a-z]` a class, `[!a-z]` or `[^a-z]` a negated class, `\x` the character x literally;
 *   - `**` as a whole component: any number of components, zero included;
 *   - a pattern starting with `/` is anchored at the root; any other pattern may start at any depth
 *     (`*.log` matches `/a/b/x.log`; `cache` matches `/srv/cache`);
 *   - a pattern matches a path when it matches the path or one of its ancestors, so `cache` also
 *     matches everything under a `cache` directory and `/srv/app` everything under `/srv/app`;
 *   - a trailing `/` makes the pattern match directories only (and so everything under them);
 *   - a leading `!` negates: the last pattern that matches decides (`!` re-includes); `\!` is a
 *     literal `!`.
 * Names that are not valid UTF-8 arrive as latin1-decoded strings (one character a byte); nothing
 * here assumes UTF-8, and `?` matches one character (one code point).
 *
 * Like restic, a walker that skips an excluded directory never sees a negated pattern below it; use
 * `matchesAllBelow` to know when skipping is safe.
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, NotFoundError } from '@strata/core';

/** A compiled list of patterns. */
export interface PatternSet {
  /** The patterns as given (empty ones dropped). */
  readonly patterns: readonly string[];
  /** True if there is no pattern: nothing matches. */
  readonly empty: boolean;
  /**
   * True if the last pattern matching `path` (or one of its ancestors) is not negated. `isDir` says
   * whether `path` itself is a directory (for patterns ending in `/`).
   */
  matches(path: string, isDir: boolean): boolean;
  /**
   * True if some path strictly under the directory `dirPath` may match (conservative: it may be true
   * when in the end nothing does, never false when something would). For include filters: descend
   * into a directory only when this is true.
   */
  matchesChildOf(dirPath: string): boolean;
  /**
   * True if the directory `dirPath` and every path under it match: no negated pattern can re-include
   * anything below. For exclude filters: a walker may skip the directory without reading it.
   */
  matchesAllBelow(dirPath: string): boolean;
}

type Component = { kind: 'any' } | { kind: 'literal'; text: string } | { kind: 're'; re: RegExp };

interface Compiled {
  source: string;
  negated: boolean;
  dirOnly: boolean;
  /** Components; an unanchored pattern starts with `**`. */
  parts: Component[];
}

/** Compiles patterns; InvalidArgumentError names a malformed one (unclosed `[`, trailing `\`). */
export function compilePatterns(patterns: readonly string[]): PatternSet {
  const kept = patterns.filter((p) => p.length > 0 && p !== '!');
  const compiled = kept.map(compileOne);
  const negatedAny = compiled.some((c) => c.negated);

  function decide(comps: string[], isDir: boolean): boolean {
    for (let i = compiled.length - 1; i >= 0; i--) {
      const c = compiled[i];
      if (matchPrefix(c, comps, isDir)) return !c.negated;
    }
    return false;
  }

  return {
    patterns: kept,
    empty: kept.length === 0,
    matches(path: string, isDir: boolean): boolean {
      if (compiled.length === 0) return false;
      return decide(splitPath(path), isDir);
    },
    matchesChildOf(dirPath: string): boolean {
      if (compiled.length === 0) return false;
      const comps = splitPath(dirPath);
      if (decide(comps, true)) {
        // Everything below inherits the match unless a negated pattern could cut in; that only
        // removes some paths, and an unmatched child of a matched directory is rare enough to
        // keep this conservative answer.
        return true;
      }
      return compiled.some((c) => !c.negated && canContinue(c, comps));
    },
    matchesAllBelow(dirPath: string): boolean {
      if (compiled.length === 0) return false;
      const comps = splitPath(dirPath);
      if (!decide(comps, true)) return false;
      if (!negatedAny) return true;
      return !compiled.some((c) => c.negated && canContinue(c, comps));
    },
  };
}

/**
 * Reads a pattern file: one pattern a line, surrounding whitespace trimmed, blank lines and lines
 * starting with `#` ignored. Bytes that are not valid UTF-8 are read as latin1, like file names.
 */
export async function readPatternFile(path: string): Promise<string[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError('glob', `pattern file "${path}" does not exist; check the path given`, { cause: err });
    }
    throw new InvalidArgumentError('glob', `pattern file "${path}" cannot be read; check its permissions`, { cause: err });
  }
  return parsePatternText(decodeNames(bytes));
}

/** The patterns of a pattern file's text (see `readPatternFile`). */
export function parsePatternText(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    out.push(line);
  }
  return out;
}

function decodeNames(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return Buffer.from(bytes).toString('latin1');
  }
}

function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

function compileOne(source: string): Compiled {
  let p = source;
  let negated = false;
  if (p.startsWith('!')) {
    negated = true;
    p = p.slice(1);
  }
  const anchored = p.startsWith('/');
  let dirOnly = false;
  if (p.endsWith('/') && !p.endsWith('\\/')) {
    dirOnly = true;
    p = p.replace(/\/+$/, '');
  }
  const parts: Component[] = anchored ? [] : [{ kind: 'any' }];
  for (const piece of p.split('/')) {
    if (piece === '') continue;
    const comp = compileComponent(piece, source);
    // `**/**` is the same as `**`.
    if (comp.kind === 'any' && parts.length > 0 && parts[parts.length - 1].kind === 'any') continue;
    parts.push(comp);
  }
  return { source, negated, dirOnly, parts };
}

function compileComponent(piece: string, source: string): Component {
  if (piece === '**') return { kind: 'any' };
  let re = '';
  let literal = '';
  let isLiteral = true;
  const chars = Array.from(piece);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === '\\') {
      if (i + 1 >= chars.length) throw bad(source, 'it ends with a lone "\\"');
      const next = chars[++i];
      re += lit(next);
      literal += next;
    } else if (ch === '*') {
      isLiteral = false;
      re += '.*';
    } else if (ch === '?') {
      isLiteral = false;
      re += '.';
    } else if (ch === '[') {
      isLiteral = false;
      const { pattern, end } = compileClass(chars, i, source);
      re += pattern;
      i = end;
    } else {
      re += lit(ch);
      literal += ch;
    }
  }
  if (isLiteral) return { kind: 'literal', text: literal };
  return { kind: 're', re: new RegExp(`^${re}$`, 'su') };
}

/** Compiles the class starting at chars[start] === '['; returns its regex and the index of `]`. */
function compileClass(chars: string[], start: number, source: string): { pattern: string; end: number } {
  let i = start + 1;
  let negate = false;
  if (chars[i] === '!' || chars[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < chars.length; i++) {
    let ch = chars[i];
    if (ch === ']' && !first) {
      if (body === '') throw bad(source, 'it has an empty character class');
      return { pattern: `[${negate ? '^' : ''}${body}]`, end: i };
    }
    first = false;
    if (ch === '\\') {
      if (i + 1 >= chars.length) break;
      ch = chars[++i];
    }
    if (chars[i + 1] === '-' && i + 2 < chars.length && chars[i + 2] !== ']') {
      let hi = chars[i + 2];
      i += 2;
      if (hi === '\\') {
        if (i + 1 >= chars.length) break;
        hi = chars[++i];
      }
      if (hi.codePointAt(0)! < ch.codePointAt(0)!) throw bad(source, `the range "${ch}-${hi}" is reversed`);
      body += `${lit(ch)}-${lit(hi)}`;
    } else {
      body += lit(ch);
    }
  }
  throw bad(source, 'a "[" is not closed');
}

/** A regex-safe literal: letters and digits as themselves, anything else as a \u{...} escape. */
function lit(ch: string): string {
  return /^[A-Za-z0-9_]$/.test(ch) ? ch : `\\u{${ch.codePointAt(0)!.toString(16)}}`;
}

function bad(source: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError('glob', `pattern "${source}" is malformed: ${why}; escape special characters with "\\"`);
}

function matchComponent(c: Component, name: string): boolean {
  if (c.kind === 'literal') return c.text === name;
  if (c.kind === 're') return c.re.test(name);
  return true;
}

/**
 * Runs the pattern as an NFA over the path's components. `states[i]` means parts[0..i) matched the
 * components consumed so far. The pattern matches when all parts are matched after consuming a
 * non-empty prefix of the path (an ancestor or the path itself).
 */
function run(c: Compiled, comps: string[], onStep: (states: Uint8Array, consumed: number) => boolean): Uint8Array {
  const m = c.parts.length;
  const start = new Uint8Array(m + 1);
  start[0] = 1;
  let states = closure(c, start);
  if (onStep(states, 0)) return states;
  for (let j = 0; j < comps.length; j++) {
    const next = new Uint8Array(m + 1);
    let any = false;
    for (let i = 0; i < m; i++) {
      if (!states[i]) continue;
      const part = c.parts[i];
      if (part.kind === 'any') {
        next[i] = 1;
        any = true;
      } else if (matchComponent(part, comps[j])) {
        next[i + 1] = 1;
        any = true;
      }
    }
    if (!any) return next;
    states = closure(c, next);
    if (onStep(states, j + 1)) return states;
  }
  return states;
}

/** Adds the states reached by letting each `**` match zero components. */
function closure(c: Compiled, states: Uint8Array): Uint8Array {
  for (let i = 0; i < c.parts.length; i++) if (states[i] && c.parts[i].kind === 'any') states[i + 1] = 1;
  return states;
}

function matchPrefix(c: Compiled, comps: string[], isDir: boolean): boolean {
  const m = c.parts.length;
  const n = comps.length;
  let matched = false;
  run(c, comps, (states, consumed) => {
    if (consumed === 0 || !states[m]) return false;
    // An ancestor is a directory; the path itself only if isDir.
    if (consumed < n || !c.dirOnly || isDir) matched = true;
    return matched;
  });
  return matched;
}

/** True if, after consuming all of `comps`, the pattern still has parts left that could match below. */
function canContinue(c: Compiled, comps: string[]): boolean {
  const m = c.parts.length;
  let alive = false;
  run(c, comps, (s, consumed) => {
    if (consumed === comps.length) alive = s.some((v, i) => v === 1 && i < m);
    return false;
  });
  return alive;
}
