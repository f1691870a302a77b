/**
 * Everything the CLI prints. Results go to stdout; progress, notes and warnings to stderr (so `dump`
 * and `--json` keep stdout clean). On a terminal, long work shows one live progress line, redrawn a few
 * times a second and cleared at the end. With --json, progress becomes `{"messageType":"status"}` lines
 * (at most two a second) and results are JSON.
 */
import type { ProgressEvent } from '@strata/engine';
import { formatBytes, formatDuration } from './format.js';

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

/** What `filesDone` counts in each phase, for the progress line. */
const UNITS: Record<string, string> = { scan: 'files', backup: 'files', restore: 'files', copy: 'snapshots', prune: 'packs', check: 'steps' };

const STATUS_INTERVAL_MS = 500;
const LINE_INTERVAL_MS = 200;

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  private readonly stdout: NodeJS.WriteStream;
  private readonly stderr: NodeJS.WriteStream;
  private lastProgressAt = 0;
  private lineShown = false;
  private pendingEvent?: ProgressEvent;

  constructor(options: OutputOptions = {}) {
    this.json = options.json ?? false;
    this.quiet = options.quiet ?? false;
    this.verbose = (options.verbose ?? false) && !this.quiet;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
  }

  /** True when a live progress line is drawn (stderr is a terminal, not --json or --quiet). */
  get live(): boolean {
    return !this.json && !this.quiet && Boolean(this.stderr.isTTY);
  }

  /** A human result line on stdout (not with --json). */
  result(text: string): void {
    if (this.json) return;
    this.clearLine();
    this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** A note on stderr, hidden by --quiet and --json. */
  info(text: string): void {
    if (this.quiet || this.json) return;
    this.clearLine();
    this.stderr.write(`${text}\n`);
  }

  /** Detail shown with --verbose only. */
  detail(text: string): void {
    if (!this.verbose) return;
    this.clearLine();
    this.stderr.write(`${text}\n`);
  }

  /** A warning on stderr, hidden only by --quiet. */
  warn(text: string): void {
    if (this.quiet) return;
    this.clearLine();
    this.stderr.write(`strata: warning: ${text}\n`);
  }

  /** An error sentence on stderr; always shown. */
  error(text: string): void {
    this.clearLine();
    this.stderr.write(`strata: ${text}\n`);
  }

  /** Raw text on stderr (stack traces with --verbose, lists of failed files). */
  stderrText(text: string): void {
    this.clearLine();
    this.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** One JSON line on stdout (--json mode messages). */
  jsonLine(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** A whole JSON document on stdout (listings with --json). */
  document(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A progress callback for the engine, throttled; call `done()` when the work ends. */
  progress = (event: ProgressEvent): void => {
    if (this.quiet || (!this.json && !this.stderr.isTTY)) return;
    const now = Date.now();
    this.pendingEvent = event;
    if (now - this.lastProgressAt < (this.json ? STATUS_INTERVAL_MS : LINE_INTERVAL_MS)) return;
    this.lastProgressAt = now;
    this.emitProgress(event);
  };

  private emitProgress(event: ProgressEvent): void {
    this.pendingEvent = undefined;
    const seconds = event.elapsedMs / 1000;
    const fraction = event.bytesTotal ? Math.min(1, event.bytesDone / event.bytesTotal) : event.filesTotal ? Math.min(1, event.filesDone / event.filesTotal) : undefined;
    const rate = seconds > 0 ? event.bytesDone / seconds : 0;
    const remaining = event.bytesTotal && rate > 0 ? Math.max(0, (event.bytesTotal - event.bytesDone) / rate) : undefined;
    if (this.json) {
      this.jsonLine({
        messageType: 'status',
        phase: event.phase,
        secondsElapsed: Math.round(seconds),
        ...(remaining !== undefined ? { secondsRemaining: Math.round(remaining) } : {}),
        ...(fraction !== undefined ? { percentDone: fraction } : {}),
        filesDone: event.filesDone,
        ...(event.filesTotal !== undefined ? { totalFiles: event.filesTotal } : {}),
        bytesDone: event.bytesDone,
        ...(event.bytesTotal !== undefined ? { totalBytes: event.bytesTotal } : {}),
        ...(event.currentFile ? { currentFiles: [event.currentFile] } : {}),
      });
      return;
    }
    const parts = [`[${formatDuration(seconds)}]`];
    if (fraction !== undefined) parts.push(`${(fraction * 100).toFixed(1)}%`);
    const unit = UNITS[event.phase] ?? 'done';
    parts.push(event.filesTotal !== undefined ? `${event.filesDone} / ${event.filesTotal} ${unit}` : `${event.filesDone} ${unit}`);
    if (event.bytesDone > 0 || event.bytesTotal) {
      parts.push(event.bytesTotal !== undefined ? `${formatBytes(event.bytesDone)} / ${formatBytes(event.bytesTotal)}` : formatBytes(event.bytesDone));
    }
    if (rate > 0) parts.push(`${formatBytes(rate)}/s`);
    if (remaining !== undefined) parts.push(`ETA ${formatDuration(remaining)}`);
    let line = `${event.phase} ${parts.join(' ')}`;
    const width = this.stderr.columns || 80;
    if (event.currentFile) {
      const room = width - line.length - 2;
      if (room > 10) {
        const f = event.currentFile;
        line += `  ${f.length > room ? `...${f.slice(f.length - room + 3)}` : f}`;
      }
    }
    this.stderr.write(`\r\x1b[K${line.slice(0, width - 1)}`);
    this.lineShown = true;
  }

  /** Ends a progress display: a last status line with --json, the live line cleared on a terminal. */
  done(): void {
    if (this.json && this.pendingEvent) this.emitProgress(this.pendingEvent);
    this.pendingEvent = undefined;
    this.clearLine();
  }

  private clearLine(): void {
    if (this.lineShown) {
      this.stderr.write('\r\x1b[K');
      this.lineShown = false;
    }
  }
}
