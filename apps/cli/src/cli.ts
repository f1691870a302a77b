#!/usr/bin/env node
// The `strata` executable. Kept tiny: commands import the engine and plugins only when they run.
import { main } from './program.js';

// A reader that stops early (`strata dump ... | head`) is not a failure to report: the command sees the
// failed write itself, stops, releases its locks, and ends quietly with exit 141 (as SIGPIPE would).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

// Anything that escapes a command (an error in a stream callback, a plugin's stray rejection) is still
// one sentence, with the stack only under --verbose.
const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');
const crash = (err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`strata: unexpected error: ${message}; run again with --verbose for details, and report it if it persists\n`);
  if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

const code = await main(process.argv.slice(2));
// stdout to a file or a pipe is written synchronously on Linux, but wait for any buffered bytes
// (a slow pipe) before exiting so `strata dump ... | consumer` never loses the tail.
if (process.stdout.writableLength > 0 && !process.stdout.destroyed) {
  await new Promise((resolve) => {
    for (const event of ['drain', 'close', 'error']) process.stdout.once(event, resolve);
  });
}
process.exit(code);
