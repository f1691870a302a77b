import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Option } from 'commander';
import { CliError, ExitCode } from '../errors.js';
import { formatBytes, formatDuration } from '../format.js';
import { collect } from './options.js';
import type { CommandModule } from './types.js';

interface RestoreOpts {
  target?: string;
  include?: string[];
  exclude?: string[];
  verify?: boolean;
  overwrite?: 'always' | 'if-changed' | 'never';
  keepDamaged?: boolean;
}

export const command: CommandModule = {
  register(program, app) {
    program
      .command('restore')
      .description('restore a snapshot into a folder (absolute paths land under it: /srv/app -> DIR/srv/app)')
      .argument('<snapshot>', 'snapshot id, unique prefix, or latest')
      .option('-t, --target <dir>', 'folder to restore into (required)')
      .option('--include <glob>', 'restore only paths matching GLOB (repeatable)', collect)
      .option('--exclude <glob>', 'leave out paths matching GLOB (repeatable)', collect)
      .option('--verify', 'read every restored file back and compare with its recorded SHA-256')
      .addOption(
        new Option('--overwrite <when>', 'existing files: always (default, as restic), if-changed (same size and mtime, or same SHA-256, is skipped), never').choices([
          'always',
          'if-changed',
          'never',
        ]),
      )
      .option('--keep-damaged', 'keep a file whose data fails verification as NAME.strata-damaged (default: remove it)')
      .addHelpText(
        'after',
        `
Examples:
  $ strata restore latest --target /tmp/restore
  $ strata restore 4f2a9c --target / --include '/srv/app/config/**' --overwrite always
  $ strata restore latest --target ./r --verify --json
  $ strata restore latest --target ./r --keep-damaged   # salvage what is readable of damaged files
Exit code 1 when a file's data is damaged; the damaged files are named.`,
      )
      .action(
        app.action(async (ctx, ref: string, opts: RestoreOpts) => {
          if (!opts.target) throw new CliError('restore needs --target DIR; the folder to restore into');
          const target = path.resolve(opts.target);
          const existing = await stat(target).catch(() => undefined);
          if (existing && !existing.isDirectory()) throw new CliError(`restore target ${target} exists and is not a folder; choose a folder for --target`);
          const repo = await ctx.open();
          const result = await repo.restore(ref, target, {
            ...(opts.include?.length ? { includes: opts.include } : {}),
            ...(opts.exclude?.length ? { excludes: opts.exclude } : {}),
            ...(opts.verify ? { verify: true } : {}),
            ...(opts.overwrite ? { overwrite: opts.overwrite } : {}),
            ...(opts.keepDamaged ? { keepDamaged: true } : {}),
            onProgress: ctx.output.progress,
            signal: ctx.abort.signal,
          });
          ctx.output.done();
          ctx.logger.info({ target, result: { ...result, damaged: result.damaged.length, errors: result.errors.length } }, 'restore finished');
          if (ctx.output.json) {
            ctx.output.jsonLine({ messageType: 'summary', target, ...result });
          } else {
            ctx.output.result(
              `restored ${result.filesRestored} files and ${result.dirsRestored} folders (${formatBytes(result.bytesRestored)}) to ${target} in ${formatDuration(result.durationMs / 1000)}` +
                (result.filesSkipped ? `; ${result.filesSkipped} ${opts.overwrite === 'never' ? 'existing' : 'unchanged'} files skipped` : ''),
            );
          }
          const problems = [...result.damaged.map((d) => ({ ...d, kind: 'damaged' })), ...result.errors.map((e) => ({ ...e, kind: 'error' }))];
          if (!result.success || problems.length > 0) {
            const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
            ctx.output.stderrText(
              `strata: restore incomplete: ${result.damaged.length} damaged and ${result.errors.length} failed file${problems.length === 1 ? '' : 's'} (run "strata check --read-data" to find the damage):\n${lines}`,
            );
            return ExitCode.FAILURE;
          }
          return ExitCode.OK;
        }),
      );
  },
};
