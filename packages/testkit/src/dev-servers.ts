/**
 * `pnpm dev-servers [--env-file FILE]`: starts the S3 (s3rver), Azure Blob (Azurite) and Google
 * Cloud Storage (in-memory JSON API) servers on 127.0.0.1, prints the `export` lines that point
 * Strata at them, writes them to FILE when asked, and runs until interrupted.
 *
 *   pnpm dev-servers --env-file /tmp/strata-cloud.env &
 *   . /tmp/strata-cloud.env
 *   strata init --repo s3:strata-test/demo
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { startAzurite, startGcsServer, startS3Server, type LoopbackServer } from './servers/index.js';

function usage(): never {
  process.stderr.write('usage: pnpm dev-servers [--env-file FILE]\n');
  process.exit(2);
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  let envFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--env-file') envFile = args[++i] ?? usage();
    else if (a.startsWith('--env-file=')) envFile = a.slice('--env-file='.length);
    else if (a === '--help' || a === '-h') usage();
    else usage();
  }
  const servers: LoopbackServer[] = [];
  const stopAll = async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
  };
  try {
    servers.push(...(await Promise.all([startS3Server(), startGcsServer(), startAzurite()])));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const lines = servers.flatMap((s) => Object.entries(s.env).map(([k, v]) => `export ${k}=${shellQuote(v)}`));
  const text = `# Strata loopback cloud servers (pnpm dev-servers); bucket and container: strata-test\n${lines.join('\n')}\n`;
  if (envFile) {
    // pnpm runs the script in the package folder; a relative path means the caller's folder.
    const path = resolve(process.env.INIT_CWD ?? process.cwd(), envFile);
    await writeFile(path, text, { mode: 0o600 });
    process.stdout.write(`wrote ${path}\n`);
  }
  process.stdout.write(text);
  for (const s of servers) process.stdout.write(`# ${s.name}: ${s.endpoint}  e.g. --repo ${s.urlFor('demo')}\n`);
  process.stdout.write('# running; stop with Ctrl-C\n');

  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      process.stdout.write(`# ${signal}: stopping\n`);
      void stopAll().then(done);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

main().catch((err) => {
  process.stderr.write(`dev-servers: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
