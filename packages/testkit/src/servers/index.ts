export type { LoopbackServer } from './types.js';
export { startS3Server, type S3ServerOptions } from './s3.js';
export { startAzurite, azuriteConnectionString, AZURITE_ACCOUNT, AZURITE_KEY, type AzuriteOptions } from './azurite.js';
export { startGcsServer, GcsServer, crc32cUpdate, type GcsServerOptions } from './gcs-server.js';
