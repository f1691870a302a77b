/** A loopback server for tests and `pnpm dev-servers`. */
export interface LoopbackServer {
  /** 's3', 'gcs' or 'azure'. */
  name: string;
  /** Base URL of the service, on 127.0.0.1. */
  endpoint: string;
  /** Environment variables that point Strata's store plugins (and the SDKs) at this server. */
  env: Record<string, string>;
  /** A repository URL for a prefix inside the server's default bucket or container. */
  urlFor(prefix: string): string;
  /** Stops the server and removes what it stored. */
  stop(): Promise<void>;
}
