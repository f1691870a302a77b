/**
 * Finding and reading the config file: `--config F`, else `strata.config.json` in the working directory
 * (absent is fine). Relative file names inside it (passwordFile, excludeFile) are relative to the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CliError } from './errors.js';
import type { BackupSetConfig, RetentionConfig, StrataConfig } from './config-schema.js';

export type { BackupSetConfig, RetentionConfig, StrataConfig };

export const DEFAULT_CONFIG_FILE = 'strata.config.json';

export interface LoadedConfig {
  /** The file it came from, as named to the user. */
  file: string;
  dir: string;
  config: StrataConfig;
}

/** Reads and validates the config file; undefined when none was asked for and none is present. */
export async function loadConfig(explicit: string | undefined, cwd = process.cwd()): Promise<LoadedConfig | undefined> {
  const file = explicit ?? DEFAULT_CONFIG_FILE;
  const full = path.resolve(cwd, file);
  if (!explicit && !existsSync(full)) return undefined;
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new CliError(`config ${file}: cannot read it (${reason}); check the --config path`, 1, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new CliError(`config ${file}: not valid JSON (${(err as Error).message}); fix the file`, 1, { cause: err });
  }
  const { validateConfig } = await import('./config-schema.js');
  const result = validateConfig(data);
  if (!result.ok) {
    throw new CliError(`config ${file}: ${result.problems.join('; ')}`);
  }
  return { file, dir: path.dirname(full), config: result.config };
}

/** A backup set by name, or an error listing the sets there are. */
export function findSet(loaded: LoadedConfig | undefined, name: string): BackupSetConfig {
  const sets = loaded?.config.sets ?? {};
  const set = sets[name];
  if (!set) {
    const known = Object.keys(sets);
    const where = loaded ? `config ${loaded.file}` : `no config file (${DEFAULT_CONFIG_FILE} or --config F)`;
    throw new CliError(
      known.length
        ? `backup set "${name}" is not in ${where}; known sets are ${known.join(', ')}`
        : `backup set "${name}" is not defined: ${where} has no "sets"; add one, e.g. {"sets": {"${name}": {"paths": ["/srv"]}}}`,
    );
  }
  return set;
}

/** Turns a config retention section (or `retentionDays: N`) into the engine's policy shape. */
export function retentionOf(section: { retention?: RetentionConfig; retentionDays?: number } | undefined): RetentionConfig | undefined {
  if (!section) return undefined;
  if (section.retention) return section.retention;
  if (section.retentionDays !== undefined) return { keepWithin: `${section.retentionDays}d` };
  return undefined;
}
