/**
 * The plugin registry: which URL schemes, codecs, ciphers and change detectors this CLI knows, and
 * where each comes from. Built-in plugins are registered by name only and imported on first use, so
 * `strata version` never loads an SDK and `strata snapshots` on a local repository never loads the
 * cloud stores. Packages named in the config file (`plugins: ["pkg"]`) are imported and their
 * `plugins` export (PluginDescriptor[]) registered. A name registered twice is an error.
 */
import path from 'node:path';
import type {
  Cipher,
  CipherDescriptor,
  Codec,
  CodecDescriptor,
  ChangeDetector,
  DetectorDescriptor,
  PluginDescriptor,
  Store,
  StoreDescriptor,
} from '@strata/core';
import { InvalidArgumentError } from '@strata/core';
import { CliError } from './errors.js';

type Kind = PluginDescriptor['kind'];
type DescriptorOf<K extends Kind> = Extract<PluginDescriptor, { kind: K }>;

interface Entry<K extends Kind> {
  kind: K;
  /** Scheme for stores, name for the others. */
  name: string;
  /** The package that provides it. */
  source: string;
  summary?: string;
  descriptor?: DescriptorOf<K>;
}

/** Plugins shipped with the CLI: what each package provides, so it can be imported only when needed. */
export const BUILTIN_PLUGINS: { package: string; kind: Kind; name: string; summary: string }[] = [
  { package: '@strata/store-local', kind: 'store', name: 'local', summary: 'a folder on a local or mounted disk: /path or local:/path' },
  { package: '@strata/store-s3', kind: 'store', name: 's3', summary: 'Amazon S3 or an S3-compatible service: s3:bucket/prefix' },
  { package: '@strata/store-gcs', kind: 'store', name: 'gs', summary: 'Google Cloud Storage: gs:bucket/prefix' },
  { package: '@strata/store-azure', kind: 'store', name: 'azure', summary: 'Azure Blob Storage: azure:container/prefix' },
  { package: '@strata/codec-zstd', kind: 'codec', name: 'zstd', summary: 'Zstandard compression' },
  { package: '@strata/codec-gzip', kind: 'codec', name: 'gzip', summary: 'gzip (deflate) compression' },
  { package: '@strata/codec-brotli', kind: 'codec', name: 'brotli', summary: 'Brotli compression' },
  { package: '@strata/cipher-aes-256-gcm', kind: 'cipher', name: 'aes-256-gcm', summary: 'AES-256 in GCM mode' },
  { package: '@strata/cipher-chacha20-poly1305', kind: 'cipher', name: 'chacha20-poly1305', summary: 'ChaCha20-Poly1305' },
  { package: '@strata/detector-metadata', kind: 'detector', name: 'metadata', summary: 'size, mtime, ctime and inode, like restic' },
  { package: '@strata/detector-sha256', kind: 'detector', name: 'sha256', summary: 're-hashes content and compares with the recorded SHA-256' },
];

const KINDS: Kind[] = ['store', 'codec', 'cipher', 'detector'];

/** A repository URL resolved to its store plugin. */
export interface ResolvedLocation {
  descriptor: StoreDescriptor<unknown>;
  /** The URL with its scheme, as handed to the descriptor (a plain path becomes `local:/abs/path`). */
  url: string;
  options: unknown;
  /** Safe for logs and messages. */
  redacted: string;
}

/** Finds the descriptors a plugin module exports: its `plugins` array, else any exported descriptor. */
export function descriptorsOf(mod: Record<string, unknown>, source: string): PluginDescriptor[] {
  const isDescriptor = (v: unknown): v is PluginDescriptor =>
    typeof v === 'object' && v !== null && KINDS.includes((v as PluginDescriptor).kind) && typeof (v as PluginDescriptor).create === 'function';
  const list = (mod.plugins ?? (mod.default as Record<string, unknown> | undefined)?.plugins) as unknown;
  if (Array.isArray(list)) {
    for (const [i, d] of list.entries()) {
      if (!isDescriptor(d)) throw new CliError(`plugin package ${source}: plugins[${i}] is not a plugin descriptor (expected kind store, codec, cipher or detector, and create())`);
    }
    return list as PluginDescriptor[];
  }
  const found = Object.values(mod).filter(isDescriptor);
  if (found.length === 0) throw new CliError(`plugin package ${source} exports no "plugins" array of descriptors; is it a Strata plugin?`);
  return found;
}

/** `scheme:rest` with a scheme of two or more letters (so `C:\x` stays a path), else null. */
export function splitScheme(url: string): { scheme: string; rest: string } | null {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]+):(.*)$/s.exec(url);
  return m ? { scheme: m[1].toLowerCase(), rest: m[2] } : null;
}

export class PluginRegistry {
  private readonly entries = new Map<Kind, Map<string, Entry<Kind>>>(KINDS.map((k) => [k, new Map()]));
  private readonly loaded = new Map<string, Promise<void>>();

  constructor(private readonly importer: (specifier: string) => Promise<Record<string, unknown>> = (s) => import(s)) {}

  /** A registry with the built-in plugins registered lazily. */
  static withBuiltins(): PluginRegistry {
    const registry = new PluginRegistry();
    for (const p of BUILTIN_PLUGINS) registry.registerLazy(p.kind, p.name, p.package, p.summary);
    return registry;
  }

  /** Registers a plugin by name, to be imported from `source` when first needed. */
  registerLazy(kind: Kind, name: string, source: string, summary?: string): void {
    this.add({ kind, name: name.toLowerCase(), source, summary });
  }

  /** Registers a loaded descriptor; `source` names its package for error messages. */
  register(descriptor: PluginDescriptor, source: string): void {
    const name = descriptor.kind === 'store' ? descriptor.scheme : descriptor.name;
    if (typeof name !== 'string' || name === '') throw new CliError(`plugin package ${source}: a ${descriptor.kind} descriptor has no ${descriptor.kind === 'store' ? 'scheme' : 'name'}`);
    this.add({ kind: descriptor.kind, name: name.toLowerCase(), source, summary: descriptor.kind === 'store' ? descriptor.summary : undefined, descriptor } as Entry<Kind>);
  }

  private add(entry: Entry<Kind>): void {
    const table = this.entries.get(entry.kind)!;
    const existing = table.get(entry.name);
    if (existing) {
      // A lazily registered name is filled in by the package it was registered for.
      if (existing.source === entry.source && !existing.descriptor) {
        table.set(entry.name, { ...existing, ...entry, summary: entry.summary ?? existing.summary });
        return;
      }
      const what = entry.kind === 'store' ? `URL scheme "${entry.name}:"` : `${entry.kind} "${entry.name}"`;
      throw new CliError(`plugin ${entry.source} registers ${what}, which ${existing.source} already provides; remove one of them from the config file's "plugins"`);
    }
    table.set(entry.name, entry);
  }

  /** Imports a plugin package by name and registers what it exports. Idempotent. */
  loadPackage(name: string): Promise<void> {
    let pending = this.loaded.get(name);
    if (!pending) {
      pending = (async () => {
        let mod: Record<string, unknown>;
        try {
          mod = await this.importer(name);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${name}'`)) {
            throw new CliError(`plugin package "${name}" is not installed; install it next to strata (npm install -g ${name}) or remove it from the config file's "plugins"`, 1, { cause: err });
          }
          throw new CliError(`plugin package "${name}" failed to load: ${(err as Error).message}`, 1, { cause: err });
        }
        for (const d of descriptorsOf(mod, name)) this.register(d, name);
      })();
      this.loaded.set(name, pending);
    }
    return pending;
  }

  /** Names of one kind (schemes for stores), sorted. */
  names(kind: Kind): string[] {
    return [...this.entries.get(kind)!.keys()].sort();
  }

  /** One line per plugin for help output. */
  describe(kind: Kind): { name: string; source: string; summary?: string }[] {
    return [...this.entries.get(kind)!.values()].map(({ name, source, summary }) => ({ name, source, summary }));
  }

  has(kind: Kind, name: string): boolean {
    return this.entries.get(kind)!.has(name.toLowerCase());
  }

  /** The descriptor for `name`, importing its package on first use; undefined when unknown. */
  async get<K extends Kind>(kind: K, name: string): Promise<DescriptorOf<K> | undefined> {
    const entry = this.entries.get(kind)!.get(name.toLowerCase()) as unknown as Entry<K> | undefined;
    if (!entry) return undefined;
    if (!entry.descriptor) {
      await this.loadPackage(entry.source);
      const loaded = this.entries.get(kind)!.get(name.toLowerCase()) as unknown as Entry<K>;
      if (!loaded.descriptor) throw new CliError(`plugin package ${entry.source} does not provide the ${kind} "${name}" it was registered for`);
      return loaded.descriptor;
    }
    return entry.descriptor;
  }

  /** Resolves a repository URL to its store descriptor and options. A plain path is a local folder. */
  async resolve(url: string, env: Record<string, string | undefined> = process.env): Promise<ResolvedLocation> {
    if (url.trim() === '') throw new CliError('the repository URL is empty; pass --repo URL or set STRATA_REPOSITORY');
    const split = splitScheme(url);
    let scheme: string;
    let full: string;
    if (!split) {
      scheme = 'local';
      full = `local:${path.resolve(url)}`;
    } else {
      scheme = split.scheme;
      full = scheme === 'local' ? `local:${path.resolve(split.rest)}` : `${scheme}:${split.rest}`;
    }
    if (!this.has('store', scheme)) {
      const known = this.names('store').map((s) => `${s}:`).join(', ');
      throw new CliError(`unknown repository scheme "${scheme}:" in ${JSON.stringify(url)}; installed schemes are ${known} (a plain path is a local folder)`);
    }
    const descriptor = (await this.get('store', scheme))!;
    let options: unknown;
    try {
      options = descriptor.parse(full, env);
    } catch (err) {
      if (err instanceof CliError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new InvalidArgumentError('cli', `repository URL ${JSON.stringify(safeRedact(descriptor, full))} is not valid: ${message}`, { cause: err });
    }
    return { descriptor, url: full, options, redacted: safeRedact(descriptor, full) };
  }

  /** Builds the store for a resolved location. */
  async createStore(location: ResolvedLocation): Promise<Store> {
    return location.descriptor.create(location.options);
  }

  /** Every codec this CLI has: the engine reads blobs by codec id, so it gets them all. */
  async codecs(onUnavailable?: (name: string, err: unknown) => void): Promise<Codec[]> {
    const names = this.names('codec');
    const settled = await Promise.allSettled(names.map(async (n) => ((await this.get('codec', n)) as CodecDescriptor).create()));
    const codecs: Codec[] = [];
    settled.forEach((r, i) => {
      // A codec that cannot load only matters for blobs written with it: the engine names the
      // missing codec then. Everything else keeps working.
      if (r.status === 'fulfilled') codecs.push(r.value);
      else if (onUnavailable) onUnavailable(names[i], r.reason);
      else throw r.reason;
    });
    return codecs;
  }

  /** Every cipher this CLI has (the repository's config names the one it uses). */
  async ciphers(): Promise<Cipher[]> {
    const names = this.names('cipher');
    const descriptors = await Promise.all(names.map((n) => this.get('cipher', n)));
    return descriptors.map((d) => (d as CipherDescriptor).create());
  }

  async cipher(name: string): Promise<Cipher> {
    const d = await this.get('cipher', name);
    if (!d) throw new CliError(`unknown encryption "${name}"; choose one of ${[...this.names('cipher'), 'none'].join(', ')}`);
    return d.create();
  }

  async detector(name: string): Promise<ChangeDetector> {
    const d = (await this.get('detector', name)) as DetectorDescriptor | undefined;
    if (!d) throw new CliError(`unknown change detector "${name}"; choose one of ${this.names('detector').join(', ')}`);
    return d.create();
  }
}

function safeRedact(descriptor: StoreDescriptor<unknown>, url: string): string {
  try {
    return descriptor.redact(url);
  } catch {
    return `${splitScheme(url)?.scheme ?? 'local'}:***`;
  }
}
