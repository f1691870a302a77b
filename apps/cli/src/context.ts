/**
 * What every command runs with: the global options, output, logger, config file, plugin registry, and
 * the repositories it opened (closed, and their locks released, when the command ends whatever happens).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hasCode } from '@strata/core';
import type { Store } from '@strata/core';
import type { InitOptions, Logger, Repository, RepositoryOptions } from '@strata/engine';
import { loadConfig, type LoadedConfig } from './config.js';
import { CliError, describeError, exitCodeFor, type ErrorContext } from './errors.js';
import { createFileLogger, silentLogger, type FileLogger } from './logger.js';
import { Output } from './output.js';
import { canPrompt, givenPassword, noPasswordError, passwordForOpen, promptHidden, type PasswordSource } from './password.js';
import { PluginRegistry, type ResolvedLocation } from './registry.js';

/** Options every command accepts (defined on the program, see program.ts). */
export interface GlobalOptions {
  repo?: string;
  passwordFile?: string;
  config?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  logFile?: string;
  cacheDir?: string;
  /** false with --no-cache. */
  cache?: boolean;
}

export interface OpenOptions {
  /** Repository URL; default --repo / STRATA_REPOSITORY / config `repository`. */
  url?: string;
  /** Where its password comes from; default the main repository's sources. */
  password?: PasswordSource;
  /** Name in prompts and messages, e.g. 'source repository'. */
  label?: string;
}

export class CliContext {
  readonly output: Output;
  readonly registry: PluginRegistry;
  readonly errorContext: ErrorContext = {};
  /** Aborted on the first Ctrl-C (SIGINT) or SIGTERM: long work stops, locks are released, exit 130. */
  readonly abort = new AbortController();
  private loadedConfig?: Promise<LoadedConfig | undefined>;
  private readonly repositories: Repository[] = [];

  private constructor(
    readonly globals: GlobalOptions,
    readonly logger: Logger & { flush?(): void },
    readonly env: Record<string, string | undefined>,
  ) {
    this.output = new Output({ json: globals.json, quiet: globals.quiet, verbose: globals.verbose });
    this.registry = PluginRegistry.withBuiltins();
  }

  static async create(globals: GlobalOptions, env: Record<string, string | undefined> = process.env): Promise<CliContext> {
    let logger: FileLogger = silentLogger;
    if (globals.logFile) logger = await createFileLogger(path.resolve(globals.logFile), Boolean(globals.verbose));
    return new CliContext(globals, logger, env);
  }

  /** The config file (memoized); its `plugins` are loaded into the registry on first read. */
  config(): Promise<LoadedConfig | undefined> {
    this.loadedConfig ??= (async () => {
      const loaded = await loadConfig(this.globals.config);
      for (const name of loaded?.config.plugins ?? []) {
        // A relative or absolute path names a module file next to the config; anything else a package.
        const specifier = name.startsWith('.') || path.isAbsolute(name) ? pathToFileURL(path.resolve(loaded!.dir, name)).href : name;
        await this.registry.loadPackage(specifier);
      }
      if (loaded) this.logger.debug({ config: loaded.file }, 'config file loaded');
      return loaded;
    })();
    return this.loadedConfig;
  }

  /** The repository URL as the user gave it: --repo, STRATA_REPOSITORY, or the config file. */
  async repositoryArg(): Promise<string> {
    const given = this.globals.repo ?? this.env.STRATA_REPOSITORY;
    if (given) return given;
    const loaded = await this.config();
    const fromConfig = loaded?.config.repository;
    if (fromConfig) return this.relativeToConfig(fromConfig, loaded!);
    throw new CliError('no repository given; use --repo URL, set STRATA_REPOSITORY, or put "repository" in strata.config.json');
  }

  /** A plain relative path in the config file is relative to the file's folder. */
  private relativeToConfig(url: string, loaded: LoadedConfig): string {
    const looksLikeUrl = /^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(url);
    return looksLikeUrl || path.isAbsolute(url) ? url : path.resolve(loaded.dir, url);
  }

  /** Where the main repository's password comes from. */
  async passwordSource(): Promise<PasswordSource> {
    const loaded = await this.config();
    const configFile = loaded?.config.passwordFile ? path.resolve(loaded.dir, loaded.config.passwordFile) : undefined;
    return { file: this.globals.passwordFile, envPrefix: 'STRATA', configFile, flag: '--password-file', env: this.env };
  }

  async resolve(url: string): Promise<ResolvedLocation> {
    await this.config();
    return this.registry.resolve(url, this.env);
  }

  /** Settings shared by open and init. */
  private async baseOptions(store: Store, password: string): Promise<RepositoryOptions> {
    const [codecs, ciphers] = await Promise.all([
      this.registry.codecs((name, err) => {
        this.logger.warn({ codec: name, err }, 'codec unavailable');
        this.output.warn(`codec ${name} is unavailable (${describeError(err)}); data compressed with it cannot be read`);
      }),
      this.registry.ciphers(),
    ]);
    const loaded = await this.config();
    let cacheDir: string | false | undefined;
    if (this.globals.cache === false) cacheDir = false;
    else if (this.globals.cacheDir ?? this.env.STRATA_CACHE_DIR) cacheDir = path.resolve((this.globals.cacheDir ?? this.env.STRATA_CACHE_DIR)!);
    else if (loaded?.config.cacheDir) cacheDir = path.resolve(loaded.dir, loaded.config.cacheDir);
    return { store, password, codecs, ciphers, logger: this.logger, ...(cacheDir !== undefined ? { cacheDir } : {}) };
  }

  /**
   * Opens a repository. Without a password source it first tries none (an unencrypted repository needs
   * none), then asks on a terminal, else fails with exit 1 naming the ways to give one.
   */
  async open(options: OpenOptions = {}): Promise<Repository> {
    const arg = options.url ?? (await this.repositoryArg());
    const location = await this.resolve(arg);
    const isMain = options.url === undefined;
    if (isMain) {
      this.errorContext.repository = location.redacted;
      this.errorContext.repositoryArg = arg;
    }
    const source = options.password ?? (await this.passwordSource());
    const label = options.label ?? 'repository';
    const { Repository } = await import('@strata/engine');
    const attempt = async (password: string): Promise<Repository> => {
      const store = await this.registry.createStore(location);
      try {
        return await Repository.open(await this.baseOptions(store, password));
      } catch (err) {
        await store.close?.().catch(() => {});
        throw err;
      }
    };
    const started = Date.now();
    let repo: Repository;
    try {
      let password = givenPassword(source);
      if (password === undefined) {
        try {
          repo = await attempt('');
        } catch (err) {
          if (!hasCode(err, 'WRONG_PASSWORD')) throw err;
          if (!canPrompt()) throw noPasswordError(source);
          password = await passwordForOpen(source, `${label} ${location.redacted}`);
          repo = await attempt(password!);
        }
      } else {
        repo = await attempt(password);
      }
    } catch (err) {
      if (!isMain) {
        const passwordHint = `${source.flag}, ${source.envPrefix}_PASSWORD_FILE or ${source.envPrefix}_PASSWORD`;
        throw new CliError(`${label}: ${describeError(err, { repository: location.redacted, repositoryArg: arg, passwordHint })}`, exitCodeFor(err), { cause: err });
      }
      throw err;
    }
    this.repositories.push(repo!);
    this.logger.info({ repository: location.redacted, repositoryId: repo!.id, durationMs: Date.now() - started }, 'repository opened');
    this.output.detail(`opened ${label} ${location.redacted} (id ${repo!.id.slice(0, 10)}, ${repo!.config.cipher ?? 'not encrypted'}, compression ${repo!.config.compression}) in ${Date.now() - started} ms`);
    return repo!;
  }

  /** Creates a repository; `password` already chosen by the caller. */
  async init(url: string, password: string, extra: Omit<InitOptions, keyof RepositoryOptions>): Promise<{ repo: Repository; location: ResolvedLocation }> {
    const location = await this.resolve(url);
    this.errorContext.repository = location.redacted;
    this.errorContext.repositoryArg = url;
    const { Repository } = await import('@strata/engine');
    const store = await this.registry.createStore(location);
    let repo: Repository;
    try {
      repo = await Repository.init({ ...(await this.baseOptions(store, password)), ...extra });
    } catch (err) {
      await store.close?.().catch(() => {});
      throw err;
    }
    this.repositories.push(repo);
    this.logger.info({ repository: location.redacted, repositoryId: repo.id }, 'repository created');
    return { repo, location };
  }

  /** Asks for a password on the terminal (for key add/passwd), or fails when there is none. */
  async prompt(question: string): Promise<string> {
    if (!canPrompt()) throw new CliError('no terminal to ask for the password on; give it with a file option');
    return promptHidden(question);
  }

  /** Closes every repository this command opened (releasing locks), newest first. */
  async close(): Promise<void> {
    while (this.repositories.length) {
      const repo = this.repositories.pop()!;
      try {
        await repo.close();
      } catch (err) {
        this.logger.warn({ err }, 'closing the repository failed');
      }
    }
  }
}
