/**
 * Exit codes and the translation of errors into one sentence on stderr.
 * Errors from the engine and plugins are recognised by their stable `code` (never `instanceof`:
 * a plugin loaded from a config file may carry its own copy of @strata/core).
 */
import { isStrataError } from '@strata/core';

export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  /** The backup finished, but some files could not be read (they are listed). */
  PARTIAL: 3,
  REPOSITORY_NOT_FOUND: 10,
  LOCKED: 11,
  WRONG_PASSWORD: 12,
  /** Interrupted by Ctrl-C or SIGTERM (128 + SIGINT), as shells report it. */
  INTERRUPTED: 130,
  /** The reader of stdout went away (`strata dump ... | head`): quiet, as a process ended by SIGPIPE. */
  BROKEN_PIPE: 141,
} as const;

/** True for a write to a pipe whose reader has gone. */
export function isBrokenPipe(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if ((e as NodeJS.ErrnoException).code === 'EPIPE') return true;
  return false;
}

/** A failure the CLI itself detected; `message` is already the sentence the user sees. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = ExitCode.FAILURE, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (isStrataError(err)) {
    switch (err.code) {
      case 'REPOSITORY_NOT_FOUND':
        return ExitCode.REPOSITORY_NOT_FOUND;
      case 'LOCKED':
        return ExitCode.LOCKED;
      case 'WRONG_PASSWORD':
        return ExitCode.WRONG_PASSWORD;
      case 'ABORTED':
        return ExitCode.INTERRUPTED;
    }
  }
  if (err instanceof Error && err.name === 'AbortError') return ExitCode.INTERRUPTED;
  if (isBrokenPipe(err)) return ExitCode.BROKEN_PIPE;
  return ExitCode.FAILURE;
}

/** What the message needs to know about the repository the command worked on. */
export interface ErrorContext {
  /** The repository URL with secrets removed, e.g. `local:/backups/app`. */
  repository?: string;
  /** The repository as the user typed it (for the hint `strata init --repo ...`). */
  repositoryArg?: string;
  /** Where its password comes from, for a wrong password: default the main repository's options. */
  passwordHint?: string;
}

/** Drops the `component: ` prefix the core errors carry when we say the same thing in our own words. */
function bare(err: { message: string; component?: string }): string {
  const prefix = err.component ? `${err.component}: ` : '';
  return prefix && err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** One sentence saying what went wrong and what to do, without the `strata: ` prefix. */
export function describeError(err: unknown, context: ErrorContext = {}): string {
  if (err instanceof CliError) return err.message;
  const repo = context.repository ?? 'the repository';
  if (isStrataError(err)) {
    switch (err.code) {
      case 'REPOSITORY_NOT_FOUND': {
        const arg = context.repositoryArg ? ` --repo ${shellQuote(context.repositoryArg)}` : '';
        return `repository ${repo} does not exist; create it with "strata init${arg}"`;
      }
      case 'WRONG_PASSWORD':
        return `wrong password for repository ${repo}: no key opens it; check ${context.passwordHint ?? '--password-file, STRATA_PASSWORD_FILE or STRATA_PASSWORD'}`;
      case 'LOCKED': {
        const h = (err as { holder?: { exclusive?: boolean; pid?: number; host?: string; username?: string; time?: string } }).holder;
        if (h && typeof h.pid === 'number' && h.host) {
          return `repository ${repo} is locked by ${h.exclusive ? 'an exclusive' : 'a shared'} lock of pid ${h.pid} on ${h.host}${h.username ? ` (user ${h.username})` : ''}${h.time ? ` since ${h.time}` : ''}; wait until that command ends, or run "strata unlock" if that process is gone`;
        }
        return `repository ${repo} is locked: ${bare(err)}`;
      }
      case 'ABORTED':
        return `interrupted: ${bare(err)}`;
      case 'REPOSITORY_EXISTS':
        return `repository ${repo} already exists; use it as it is, or choose another --repo`;
      default:
        return err.message;
    }
  }
  if (err instanceof Error && err.name === 'AbortError') return 'interrupted; nothing was saved';
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') return 'the output pipe was closed before the command finished';
    return err.message;
  }
  return String(err);
}
