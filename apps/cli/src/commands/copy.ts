import path from 'node:path';
import type { CopyResult } from '@strata/engine';
import { CliError } from '../errors.js';
import type { PasswordSource } from '../password.js';
import type { CommandModule } from './types.js';

interface CopyOpts {
  fromRepo?: string;
  fromPasswordFile?: string;
}

function report(ctx: { output: { json: boolean; result(t: string): void; jsonLine(v: unknown): void } }, from: string, to: string, result: CopyResult): void {
  if (ctx.output.json) {
    ctx.output.jsonLine({ messageType: 'summary', from, to, ...result });
  } else {
    ctx.output.result(`copied ${result.copied.length} snapshot${result.copied.length === 1 ? '' : 's'} from ${from} to ${to} (${result.blobsCopied} blobs), ${result.skipped.length} already there`);
  }
}

export const command: CommandModule = {
  register(program, app) {
    program
      .command('copy')
      .description('copy snapshots (and the data they need) from another repository into --repo, skipping what is there')
      .argument('[snapshot...]', 'snapshots of the source to copy (default: all)')
      .option('--from-repo <url>', 'the source repository (also STRATA_FROM_REPOSITORY)')
      .option('--from-password-file <file>', "the source repository's password file (also STRATA_FROM_PASSWORD_FILE, STRATA_FROM_PASSWORD)")
      .addHelpText(
        'after',
        `
Examples:
  $ strata copy --repo s3:offsite/app --from-repo /backups/app --from-password-file ~/.strata-pw
  $ strata copy --repo gs:archive/app --from-repo /backups/app latest
  $ strata copy                    # no --from-repo: copy --repo into every "copyTo" target of strata.config.json`,
      )
      .action(
        app.action(async (ctx, ids: string[], opts: CopyOpts) => {
          const fromArg = opts.fromRepo ?? ctx.env.STRATA_FROM_REPOSITORY;
          const snapshotOptions = ids.length ? { snapshots: ids } : {};
          if (fromArg) {
            const source = await ctx.open({
              url: fromArg,
              label: 'source repository',
              password: { file: opts.fromPasswordFile, envPrefix: 'STRATA_FROM', flag: '--from-password-file', env: ctx.env },
            });
            const target = await ctx.open();
            const result = await target.copyFrom(source, { ...snapshotOptions, onProgress: ctx.output.progress });
            ctx.output.done();
            report(ctx, (await ctx.resolve(fromArg)).redacted, ctx.errorContext.repository ?? '', result);
            return;
          }
          // Replication: from --repo into every copyTo target of the config file.
          const loaded = await ctx.config();
          const targets = loaded?.config.copyTo ?? [];
          if (targets.length === 0) throw new CliError('copy needs --from-repo URL (or "copyTo" targets in strata.config.json to replicate --repo into)');
          const source = await ctx.open();
          for (const t of targets) {
            const url = typeof t === 'string' ? t : t.repository;
            const pw: PasswordSource =
              typeof t === 'string' || !t.passwordFile
                ? await ctx.passwordSource()
                : { file: path.resolve(loaded!.dir, t.passwordFile), envPrefix: 'STRATA', flag: 'copyTo[].passwordFile', env: ctx.env };
            const target = await ctx.open({ url, label: 'copy target', password: pw });
            const result = await target.copyFrom(source, { ...snapshotOptions, onProgress: ctx.output.progress });
            ctx.output.done();
            report(ctx, ctx.errorContext.repository ?? '', (await ctx.resolve(url)).redacted, result);
          }
        }),
      );
  },
};
