import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild } from './child.js';
import type { LoopbackServer } from './types.js';

export interface S3ServerOptions {
  /** Buckets to create at start. Default: `strata-test`. */
  buckets?: string[];
}

// Runs in the child: s3rver on a free loopback port, silent, in the directory given; exits when
// its stdin closes. The OpenSSL legacy provider is needed for s3rver's paginated ListObjectsV2.
const CHILD = `
const S3rver = require(process.argv[1]);
const buckets = JSON.parse(process.argv[3]).map((name) => ({ name }));
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[2],
  configureBuckets: buckets, vhostBuckets: false });
server.run().then((addr) => { process.stdout.write('S3RVER_READY ' + addr.port + '\\n'); },
  (err) => { console.error(err); process.exit(1); });
const stop = () => server.close().finally(() => process.exit(0));
process.stdin.on('end', stop); process.stdin.resume();
process.on('SIGTERM', stop); process.on('SIGINT', stop);
`;

/**
 * Starts s3rver, a small S3 implementation, on 127.0.0.1 and a free port with a fresh temporary
 * directory. The keys are the ones s3rver accepts (S3RVER / S3RVER). Clients must use path-style
 * addressing and `requestChecksumCalculation`/`responseChecksumValidation: 'WHEN_REQUIRED'`.
 */
export async function startS3Server(options: S3ServerOptions = {}): Promise<LoopbackServer> {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('s3rver');
  const directory = await mkdtemp(join(tmpdir(), 'strata-s3rver-'));
  const buckets = options.buckets ?? ['strata-test'];
  try {
    const server = await startChild(
      's3rver',
      ['--openssl-legacy-provider', '-e', CHILD, entry, directory, JSON.stringify(buckets)],
      /S3RVER_READY (\d+)/,
      { cwd: directory },
    );
    const endpoint = `http://127.0.0.1:${server.match[1]}`;
    return {
      name: 's3',
      endpoint,
      env: {
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_REGION: 'us-east-1',
        STRATA_S3_ENDPOINT: endpoint,
        STRATA_S3_PATH_STYLE: '1',
      },
      urlFor: (prefix) => `s3:${buckets[0]}/${prefix}`,
      async stop() {
        await server.stop();
        await rm(directory, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
}
