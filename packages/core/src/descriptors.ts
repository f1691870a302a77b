import type { Cipher } from './cipher.js';
import type { Codec } from './codec.js';
import type { ChangeDetector } from './detector.js';
import type { Store } from './store.js';

/**
 * A store plugin describes its URL scheme to the apps: `s3:bucket/prefix` -> options -> Store.
 * Apps keep a registry of descriptors; registering a scheme twice is an error.
 */
export interface StoreDescriptor<Options = unknown> {
  readonly kind: 'store';
  /** The URL scheme without the colon: 'local', 's3', 'gs', 'azure'. */
  readonly scheme: string;
  /** One line for help output. */
  readonly summary: string;
  /** Turns a repository URL (with its scheme) into options. Throws InvalidArgumentError on a bad URL. */
  parse(url: string, env?: Record<string, string | undefined>): Options;
  /** The URL with any secret (keys, tokens, passwords) replaced by `***`, fit for logs. */
  redact(url: string): string;
  /** Builds the store. */
  create(options: Options): Store | Promise<Store>;
  /** The URL that parse() turns back into equivalent options (round trip). */
  describe(options: Options): string;
}

export interface CodecDescriptor {
  readonly kind: 'codec';
  readonly name: string;
  create(): Codec;
}

export interface CipherDescriptor {
  readonly kind: 'cipher';
  readonly name: string;
  create(): Cipher;
}

export interface DetectorDescriptor {
  readonly kind: 'detector';
  readonly name: string;
  create(): ChangeDetector;
}

export type PluginDescriptor = StoreDescriptor<any> | CodecDescriptor | CipherDescriptor | DetectorDescriptor;

/** What a plugin package exports as `plugins` so apps can load it by name from a config file. */
export interface PluginModule {
  plugins: PluginDescriptor[];
}
