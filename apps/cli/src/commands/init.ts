import { Option } from 'commander';
import { CliError } from '../errors.js';
import { newPassword } from '../password.js';
import type { CommandModule } from './types.js';

interface InitOpts {
  compression?: string;
  encryption: string;
  kdfN?: string;
}

/** scrypt cost for tests only: --kdf-n N or STRATA_TEST_KDF_N (production keeps the engine's default). */
function testKdf(value: string | undefined): { N: number; r: number; p: number } | undefined {
  if (value === undefined || value === '') return undefined;
  const N = Number(value);
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0) throw new CliError(`--kdf-n expects a power of two, got "${value}"`);
  return { N, r: 8, p: 1 };
}

export const command: CommandModule = {
  register(program, app) {
    program
      .command('init')
      .description('create a repository')
      .option('--compression <codec>', 'auto (default), none, zstd[:level], gzip[:level], brotli[:quality]')
      .addOption(new Option('--encryption <cipher>', 'aes-256-gcm, chacha20-poly1305, or none (not recommended)').default('aes-256-gcm'))
      // For tests only: a low scrypt cost makes key derivation fast. Never use it for real backups.
      .addOption(new Option('--kdf-n <N>', 'scrypt cost N (tests only)').hideHelp())
      .addHelpText(
        'after',
        `
Examples:
  $ strata init --repo /backups/app
  $ strata init --repo s3:my-bucket/app --compression zstd:6 --encryption chacha20-poly1305
  $ strata init --repo /backups/public --encryption none`,
      )
      .action(
        app.action(async (ctx, opts: InitOpts) => {
          const url = await ctx.repositoryArg();
          const encryption = opts.encryption.toLowerCase();
          const cipher = encryption === 'none' ? null : await ctx.registry.cipher(encryption);
          const kdf = testKdf(opts.kdfN ?? ctx.env.STRATA_TEST_KDF_N);
          let password = '';
          if (cipher) {
            password = await newPassword(await ctx.passwordSource(), 'the new repository');
          } else {
            ctx.output.warn('the repository is not encrypted: anyone who can read the store can read the backups');
          }
          const { repo, location } = await ctx.init(url, password, {
            cipher,
            ...(opts.compression ? { compression: opts.compression } : {}),
            ...(kdf ? { kdf } : {}),
          });
          if (ctx.output.json) {
            ctx.output.document({ messageType: 'initialized', id: repo.id, repository: location.redacted, cipher: repo.config.cipher, compression: repo.config.compression });
          } else {
            ctx.output.result(`created repository ${repo.id.slice(0, 10)} at ${location.redacted}`);
            if (cipher) ctx.output.info('Keep the password safe: without it the data cannot be recovered.');
          }
        }),
      );
  },
};
