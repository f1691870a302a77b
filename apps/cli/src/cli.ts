#!/usr/bin/env node
// The `strata` executable. Kept tiny: commands import the engine and plugins only when they run.
import { main } from './program.js';

// A reader that stops early (`strata dump ... | head`) is not a failure to report: end quietly, with
// the status a process killed by SIGPIPE has.
// The command sees the failed write itself, stops, and releases its locks.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

const code = await main(process.argv.slice(2));
// stdout to a file or a pipe is written synchronously on Linux, but wait for any buffered bytes
// (a slow pipe) before exiting so `strata dump ... | consumer` never loses the tail.
if (process.stdout.writableLength > 0) await new Promise((resolve) => process.stdout.once('drain', resolve));
process.exit(code);
