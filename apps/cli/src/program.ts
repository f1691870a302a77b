/**
 * The command-line program: global options, the commands from commands/index.ts, and the wrapper that
 * runs a command's action with a CliContext and turns what it returns or throws into an exit code.
 */
import { Command, CommanderError, Option } from 'commander';
import { commandModules } from './commands/index.js';
import { CliContext, type GlobalOptions } from './context.js';
import { CliError, describeError, exitCodeFor, ExitCode, isBrokenPipe } from './errors.js';
import { VERSION } from './version.js';

/** A command's action: gets the context and commander's arguments (positionals, then options). */
export type Action<A extends unknown[]> = (ctx: CliContext, ...args: A) => Promise<number | void>;

/** Handed to every command module's `register`. */
export class App {
  exitCode: number = ExitCode.OK;

  /**
   * Wraps an action for `command.action(...)`: builds the context, logs the operation, closes the
   * repositories it opened, and maps an error to its exit code and one sentence on stderr.
   */
  action<A extends unknown[]>(fn: Action<A>): (...raw: unknown[]) => Promise<void> {
    return async (...raw: unknown[]) => {
      const command = raw[raw.length - 1] as Command;
      const args = raw.slice(0, -1) as A;
      const globals = command.optsWithGlobals() as GlobalOptions;
      const name = commandPath(command);
      let ctx: CliContext;
      try {
        ctx = await CliContext.create(globals);
      } catch (err) {
        this.exitCode = reportError(err, undefined, globals.verbose);
        return;
      }
      const started = Date.now();
      // First Ctrl-C: stop the work cleanly (locks released, nothing half-saved). Second: leave at once.
      let interrupts = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        if (++interrupts > 1) process.exit(ExitCode.INTERRUPTED);
        ctx.output.info(`strata: ${signal === 'SIGINT' ? 'interrupted' : 'terminated'}; stopping (press Ctrl-C again to quit at once)`);
        ctx.abort.abort(new CliError('interrupted; nothing was saved', ExitCode.INTERRUPTED));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      ctx.logger.info({ command: name, args: raw.slice(0, -2).flat().filter((a) => typeof a === 'string'), options: redactOptions(command.opts()) }, 'command started');
      let code: number;
      try {
        code = (await fn(ctx, ...args)) ?? ExitCode.OK;
      } catch (err) {
        ctx.output.done();
        code = reportError(err, ctx, globals.verbose);
        ctx.logger.error({ command: name, err, exitCode: code }, describeError(err, ctx.errorContext));
      } finally {
        await ctx.close();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      ctx.logger.info({ command: name, exitCode: code, durationMs: Date.now() - started }, 'command finished');
      ctx.logger.flush?.();
      this.exitCode = code;
    };
  }
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function redactOptions(opts: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) out[k] = /password(?!File)/i.test(k) ? '***' : v;
  return out;
}

/** Prints the one-sentence error (and the stack with --verbose); returns the exit code. */
function reportError(err: unknown, ctx: CliContext | undefined, verbose?: boolean): number {
  if (isBrokenPipe(err)) return ExitCode.BROKEN_PIPE;
  const sentence = describeError(err, ctx?.errorContext);
  if (ctx) ctx.output.error(sentence);
  else process.stderr.write(`strata: ${sentence}\n`);
  if (verbose) {
    let e: unknown = err;
    while (e instanceof Error) {
      process.stderr.write(`${e.stack ?? e.message}\n`);
      e = e.cause;
      if (e) process.stderr.write('caused by: ');
    }
  }
  return exitCodeFor(err);
}

export function buildProgram(app: App): Command {
  const program = new Command('strata');
  program
    .description('Deduplicating, encrypted, compressed backups to local disk, S3, Google Cloud Storage and Azure Blob.')
    .version(VERSION, '-V, --version', 'print the version and exit')
    .addOption(new Option('-r, --repo <url>', 'repository: a path, local:/path, s3:bucket/prefix, gs:bucket/prefix or azure:container/prefix').env('STRATA_REPOSITORY'))
    .addOption(new Option('-p, --password-file <file>', 'read the repository password from a file (also STRATA_PASSWORD_FILE, STRATA_PASSWORD)'))
    .option('-c, --config <file>', 'config file (default: strata.config.json in the working directory)')
    .option('--json', 'machine-readable output on stdout (JSON lines; listings as one JSON document)')
    .option('-q, --quiet', 'print only results and errors')
    .option('-v, --verbose', 'print more detail, and a stack trace with errors')
    .option('--log-file <file>', 'append structured JSON log lines of every operation to a file')
    .addOption(new Option('--cache-dir <dir>', 'local cache folder (default ~/.cache/strata)').env('STRATA_CACHE_DIR'))
    .option('--no-cache', 'do not use a local cache')
    .showHelpAfterError('(run "strata --help" or "strata COMMAND --help" for usage)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({ outputError: (text, write) => write(`strata: ${text.replace(/^error: /, '')}`) })
    .exitOverride();
  program.addHelpText(
    'after',
    `
Examples:
  $ strata init --repo /backups/app
  $ strata backup --repo /backups/app /srv/app --tag nightly
  $ strata snapshots --repo /backups/app
  $ strata restore latest --repo /backups/app --target /tmp/restore
  $ STRATA_REPOSITORY=s3:my-bucket/app STRATA_PASSWORD_FILE=~/.strata-pw strata check --read-data

Exit codes: 0 success, 1 failure, 3 backup done but some files unreadable, 10 repository does not
exist, 11 repository locked, 12 wrong password.`,
  );
  for (const module of commandModules) module.register(program, app);
  // Every subcommand reports usage errors the same way, and never calls process.exit itself.
  const configure = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride().configureOutput({ outputError: (text, write) => write(`strata: ${text.replace(/^error: /, '')}`) }).showHelpAfterError(`(run "strata ${commandPath(sub)} --help" for usage)`);
      configure(sub);
    }
  };
  configure(program);
  return program;
}

/** Runs the CLI with the given arguments (without `node` and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const app = new App();
  const program = buildProgram(app);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? ExitCode.OK : ExitCode.FAILURE;
    }
    if (err instanceof CliError) {
      process.stderr.write(`strata: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  return app.exitCode;
}
