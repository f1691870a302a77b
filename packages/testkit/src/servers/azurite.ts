import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startChild } from './child.js';
import type { LoopbackServer } from './types.js';

/** The public development account every Azure Storage emulator accepts. Not a secret. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Keep blobs in memory (default) or in a temporary directory. */
  inMemory?: boolean;
  /** Megabytes of memory for in-memory blobs. Default 4096. */
  memoryLimitMb?: number;
}

/** The connection string for the development account at `endpoint` (`http://127.0.0.1:PORT`). */
export function azuriteConnectionString(endpoint: string): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint}/${AZURITE_ACCOUNT};`;
}

// Runs Azurite's blob entry point as if started directly, and ends it when our stdin closes, so a
// test run that dies leaves no server behind.
const WRAPPER = `
const main = process.argv[1];
process.argv = [process.argv[0], main, ...process.argv.slice(2)];
process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.resume();
require(main);
`;

/**
 * Starts Azurite's blob service on 127.0.0.1 and a free port, as a child process, with the
 * well-known development account. API version checks are skipped because current SDKs send newer
 * versions than Azurite knows.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<LoopbackServer> {
  const require = createRequire(import.meta.url);
  const main = join(dirname(require.resolve('azurite/package.json')), 'dist/src/blob/main.js');
  const location = await mkdtemp(join(tmpdir(), 'strata-azurite-'));
  const args = [
    '-e',
    WRAPPER,
    main,
    '--silent',
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    '0',
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--loose',
  ];
  if (options.inMemory ?? true) args.push('--inMemoryPersistence', '--extentMemoryLimit', String(options.memoryLimitMb ?? 4096));
  else args.push('--location', location);
  try {
    // The temporary directory is also the working directory, where Azurite may leave files.
    const server = await startChild('azurite', args, /successfully listens on (http:\/\/127\.0\.0\.1:\d+)/, { cwd: location });
    const endpoint = server.match[1];
    // The access log goes to the pipe we drain; nothing is printed.
    return {
      name: 'azure',
      endpoint,
      env: { AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(endpoint) },
      urlFor: (prefix) => `azure:strata-test/${prefix}`,
      async stop() {
        await server.stop();
        await rm(location, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(location, { recursive: true, force: true });
    throw err;
  }
}
