import { CliError } from '../errors.js';
import { localTime, table } from '../format.js';
import { canPrompt, readPasswordFile } from '../password.js';
import type { CliContext } from '../context.js';
import type { CommandModule } from './types.js';

/** The new password: --new-password-file, STRATA_NEW_PASSWORD_FILE, STRATA_NEW_PASSWORD, else asked twice. */
async function newKeyPassword(ctx: CliContext, file: string | undefined): Promise<string> {
  const f = file ?? ctx.env.STRATA_NEW_PASSWORD_FILE;
  if (f) return readPasswordFile(f, '--new-password-file');
  if (ctx.env.STRATA_NEW_PASSWORD) return ctx.env.STRATA_NEW_PASSWORD;
  if (!canPrompt()) throw new CliError('no new password given and there is no terminal to ask on; use --new-password-file F or STRATA_NEW_PASSWORD');
  const first = await ctx.prompt('enter the new password: ');
  if (first === '') throw new CliError('an empty password is not allowed; choose a password');
  const second = await ctx.prompt('enter the new password again: ');
  if (first !== second) throw new CliError('the passwords do not match; run the command again and type the same password twice');
  return first;
}

export const command: CommandModule = {
  register(program, app) {
    const key = program.command('key').description('manage the passwords (keys) that open the repository');
    key.addHelpText(
      'after',
      `
Examples:
  $ strata key list
  $ strata key add --new-password-file ~/.strata-pw-ops
  $ strata key remove 3fa8c1
  $ strata key passwd`,
    );
    key
      .command('list')
      .description('list the keys; * marks the one in use')
      .addHelpText('after', '\nExamples:\n  $ strata key list --json')
      .action(
        app.action(async (ctx) => {
          const repo = await ctx.open();
          const keys = await repo.listKeys();
          if (ctx.output.json) {
            ctx.output.document(keys);
            return;
          }
          const rows = [[' ID', 'User', 'Host', 'Created']];
          for (const k of keys) rows.push([`${k.current ? '*' : ' '}${k.id.slice(0, 8)}`, k.username, k.host, localTime(k.created)]);
          ctx.output.result(table(rows));
        }),
      );
    key
      .command('add')
      .description('add a key: another password that opens the repository')
      .option('--new-password-file <file>', 'read the new password from a file (else asked twice)')
      .addHelpText('after', '\nExamples:\n  $ strata key add\n  $ strata key add --new-password-file ~/.strata-pw-ops')
      .action(
        app.action(async (ctx, opts: { newPasswordFile?: string }) => {
          const repo = await ctx.open();
          const id = await repo.addKey(await newKeyPassword(ctx, opts.newPasswordFile));
          if (ctx.output.json) ctx.output.document({ id });
          else ctx.output.result(`added key ${id.slice(0, 8)}`);
        }),
      );
    key
      .command('remove')
      .description('remove a key (not the one in use)')
      .argument('<id>', 'key id or unique prefix (see strata key list)')
      .addHelpText('after', '\nExamples:\n  $ strata key remove 3fa8c1')
      .action(
        app.action(async (ctx, id: string) => {
          const repo = await ctx.open();
          const keys = await repo.listKeys();
          const matches = keys.filter((k) => k.id.startsWith(id));
          if (matches.length === 0) throw new CliError(`no key ${id} in the repository; see "strata key list"`);
          if (matches.length > 1) throw new CliError(`key prefix ${id} is ambiguous (${matches.map((k) => k.id.slice(0, 8)).join(', ')}); give more characters`);
          await repo.removeKey(matches[0].id);
          if (ctx.output.json) ctx.output.document({ removed: matches[0].id });
          else ctx.output.result(`removed key ${matches[0].id.slice(0, 8)}`);
        }),
      );
    key
      .command('passwd')
      .description('change the password of the key in use')
      .option('--new-password-file <file>', 'read the new password from a file (else asked twice)')
      .addHelpText('after', '\nExamples:\n  $ strata key passwd\n  $ strata key passwd --new-password-file ~/.strata-pw-new')
      .action(
        app.action(async (ctx, opts: { newPasswordFile?: string }) => {
          const repo = await ctx.open();
          await repo.changePassword(await newKeyPassword(ctx, opts.newPasswordFile));
          if (ctx.output.json) ctx.output.document({ changed: true });
          else ctx.output.result('password changed');
        }),
      );
  },
};
