import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Option } from 'commander';
import type { BackupOptions, BackupResult, BackupType } from '@strata/engine';
import { findSet, type BackupSetConfig } from '../config.js';
import { CliError, ExitCode } from '../errors.js';
import { formatBytes, formatDuration, shortId } from '../format.js';
import { runAfterBackup, runShellHook } from '../hooks.js';
import { collect, collectList, parseTime } from './options.js';
import type { CommandModule } from './types.js';

interface BackupOpts {
  set?: string;
  type?: BackupType;
  tag?: string[];
  exclude?: string[];
  excludeFile?: string;
  oneFileSystem?: boolean;
  host?: string;
  time?: string;
  stdin?: boolean;
  stdinFilename?: string;
  detector?: string;
  verify?: boolean;
}

/**
 * The stdin stream, failing once the command is interrupted: Ctrl-C also ends the producer
 * (`pg_dump | strata backup --stdin`), and its truncated output must not become a snapshot.
 */
async function* untilAborted(stream: AsyncIterable<Uint8Array>, signal: AbortSignal): AsyncIterable<Uint8Array> {
  const iterator = stream[Symbol.asyncIterator]();
  // Also wakes a read that waits for data which may never come.
  const aborted = new Promise<never>((_, reject) => {
    const fail = () => reject(signal.reason);
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
  aborted.catch(() => {});
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) break;
      yield next.value;
    }
    signal.throwIfAborted();
  } finally {
    void iterator.return?.(); // not awaited: it would wait for a read that may never end
  }
}

const asArray = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

export const command: CommandModule = {
  register(program, app) {
    program
      .command('backup')
      .description('make a snapshot of files and folders (or of stdin); prints its id')
      .argument('[paths...]', 'files and folders to back up')
      .option('--set <name>', 'use the backup set NAME from the config file (paths, excludes, type, tags, hooks)')
      .addOption(new Option('--type <type>', 'what to re-read: incremental (default) reads changed files only').choices(['full', 'incremental', 'differential', 'snapshot']))
      .option('--tag <tag>', 'add a tag to the snapshot (repeatable, or comma-separated)', collectList)
      .option('--exclude <glob>', 'leave out paths matching GLOB (repeatable)', collect)
      .option('--exclude-file <file>', 'read exclude globs from FILE, one a line')
      .option('-x, --one-file-system', 'do not cross file system boundaries')
      .option('--host <name>', 'host name recorded in the snapshot (default: this host)')
      .option('--time <iso>', 'snapshot time, ISO 8601 (default: now)')
      .option('--stdin', 'back up what is read from stdin as one file')
      .option('--stdin-filename <name>', 'file name for --stdin data (default: stdin)')
      .addOption(new Option('--detector <name>', 'how unchanged files are recognised: metadata (default) or sha256 (reads every file)').choices(['metadata', 'sha256']))
      .option('--verify', 'read back every blob of the new snapshot after writing it')
      .addHelpText(
        'after',
        `
Examples:
  $ strata backup --repo /backups/app /srv/app /etc --exclude '*.tmp' --tag nightly
  $ strata backup --set web                      # paths, excludes, type and tags from strata.config.json
  $ strata backup /srv/app --type full --host web-1 --time 2026-01-02T03:00:00Z
  $ pg_dump app | strata backup --stdin --stdin-filename app.sql
Exit code 3: the snapshot was saved, but some files could not be read (they are listed on stderr).`,
      )
      .action(
        app.action(async (ctx, paths: string[], opts: BackupOpts) => {
          const loaded = await ctx.config();
          let set: BackupSetConfig | undefined;
          if (opts.set) set = findSet(loaded, opts.set);
          const relative = (p: string) => (loaded && !path.isAbsolute(p) ? path.resolve(loaded.dir, p) : p);

          // The command line wins over the set; lists (tags, excludes) add up.
          const sources = paths.length > 0 ? paths : (set?.paths ?? []).map(relative);
          if (opts.stdin && paths.length > 0) throw new CliError('--stdin backs up stdin only; remove the paths, or drop --stdin');
          if (!opts.stdin && opts.stdinFilename) throw new CliError('--stdin-filename needs --stdin');
          if (!opts.stdin && sources.length === 0) throw new CliError('nothing to back up; give one or more paths, --stdin, or --set NAME');
          if (!opts.stdin) {
            for (const p of sources) {
              try {
                await lstat(p);
              } catch (err) {
                const code = (err as NodeJS.ErrnoException).code;
                const reason = code === 'ENOENT' ? 'no such file or folder' : (err as Error).message;
                throw new CliError(`cannot back up ${p}: ${reason}; check the path`, ExitCode.FAILURE, { cause: err });
              }
            }
          }
          const excludeFile = opts.excludeFile ?? (set?.excludeFile ? relative(set.excludeFile) : undefined);
          if (excludeFile) {
            // Read it here so a missing file is one clear error before anything starts.
            await readFile(excludeFile).catch((err) => {
              throw new CliError(`cannot read the exclude file ${excludeFile} (${(err as Error).message}); check --exclude-file`, 1, { cause: err });
            });
          }
          const detectorName = opts.detector ?? set?.detector;
          const type: BackupType = opts.type ?? set?.type ?? 'incremental';
          const hooks = set?.hooks ? { pre: asArray(set.hooks.pre) ?? [], post: asArray(set.hooks.post) ?? [] } : undefined;
          const options: BackupOptions = {
            type,
            tags: [...(set?.tags ?? []), ...(opts.tag ?? [])],
            excludes: [...(set?.excludes ?? []), ...(opts.exclude ?? [])],
            ...(excludeFile ? { excludeFile } : {}),
            ...((opts.oneFileSystem ?? set?.oneFileSystem) ? { oneFileSystem: true } : {}),
            ...((opts.host ?? set?.host) ? { host: opts.host ?? set?.host } : {}),
            ...(opts.time ? { time: parseTime(opts.time) } : {}),
            ...(detectorName ? { detector: await ctx.registry.detector(detectorName) } : {}),
            ...(hooks && type === 'snapshot' ? { hooks } : {}),
            ...(opts.set ? { set: opts.set } : {}),
            ...((opts.verify ?? set?.verify) ? { verify: true } : {}),
            ...(opts.stdin ? { stdin: { stream: untilAborted(process.stdin, ctx.abort.signal), filename: opts.stdinFilename ?? 'stdin' } } : {}),
            onProgress: ctx.output.progress,
            signal: ctx.abort.signal,
          };

          const repo = await ctx.open();
          ctx.output.detail(`backing up ${opts.stdin ? `stdin as ${opts.stdinFilename ?? 'stdin'}` : sources.join(', ')} (type ${type}${detectorName ? `, detector ${detectorName}` : ''})`);
          // The engine runs hooks for type snapshot; for the other types they run here, post always.
          const cliHooks = hooks && type !== 'snapshot' ? hooks : { pre: [], post: [] };
          let result: BackupResult;
          try {
            for (const cmd of cliHooks.pre) await runShellHook(cmd, 'pre');
            result = await repo.backup(opts.stdin ? [] : sources.map((p) => path.resolve(p)), options);
          } finally {
            ctx.output.done();
            let postError: unknown;
            for (const cmd of cliHooks.post) await runShellHook(cmd, 'post').catch((err) => (postError ??= err));
            // A failing post hook is reported unless the backup itself already failed.
            if (postError && result!) throw postError;
          }
          const s = result.summary;
          ctx.logger.info({ snapshotId: result.snapshotId, summary: s, unreadable: result.errors.length }, 'backup finished');

          if (ctx.output.json) {
            ctx.output.jsonLine({
              messageType: 'summary',
              snapshotId: result.snapshotId,
              ...s,
              filesUnreadable: result.errors.length,
              errors: result.errors,
              inconsistent: result.inconsistent,
            });
          } else if (ctx.output.quiet) {
            ctx.output.result(result.snapshotId);
          } else {
            ctx.output.result(
              [
                `Files:  ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnmodified} unmodified`,
                `Dirs:   ${s.dirsNew} new, ${s.dirsChanged} changed, ${s.dirsUnmodified} unmodified`,
                `Added to the repository: ${formatBytes(s.dataAdded)} (${formatBytes(s.dataAddedPacked)} stored)`,
                `processed ${s.totalFilesProcessed} files, ${formatBytes(s.totalBytesProcessed)} in ${formatDuration(s.durationMs / 1000)}`,
                `snapshot ${shortId(result.snapshotId)} saved`,
              ].join('\n'),
            );
          }
          for (const f of result.inconsistent) ctx.output.warn(`${f} kept changing while it was read; it is marked inconsistent in the snapshot`);
          await runAfterBackup({ ctx, repo, result, set: set && opts.set ? { name: opts.set, config: set } : undefined, config: loaded });
          if (result.errors.length > 0) {
            const lines = result.errors.map((e) => `  ${e.path}: ${e.message}`).join('\n');
            ctx.output.stderrText(
              `strata: snapshot ${shortId(result.snapshotId)} saved, but ${result.errors.length} file${result.errors.length === 1 ? '' : 's'} could not be read and ${result.errors.length === 1 ? 'is' : 'are'} missing from it:\n${lines}`,
            );
            return ExitCode.PARTIAL;
          }
          return ExitCode.OK;
        }),
      );
  },
};
