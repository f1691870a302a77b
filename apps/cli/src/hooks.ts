/**
 * Extension points around commands. `onAfterBackup` registers a function run after every successful
 * backup (also one that ended with unreadable files), with the open repository still locked-free and
 * usable: retention of a backup set is applied there. Hooks run in registration order; an error in a
 * hook fails the command (exit 1) after the snapshot was saved, and says so.
 */
import type { BackupResult, Repository } from '@strata/engine';
import type { BackupSetConfig, LoadedConfig } from './config.js';
import type { CliContext } from './context.js';

export interface AfterBackupEvent {
  ctx: CliContext;
  repo: Repository;
  result: BackupResult;
  /** The backup set named by --set, if any. */
  set?: { name: string; config: BackupSetConfig };
  config?: LoadedConfig;
}

export type AfterBackupHook = (event: AfterBackupEvent) => Promise<void>;

const afterBackupHooks: AfterBackupHook[] = [];

export function onAfterBackup(hook: AfterBackupHook): void {
  afterBackupHooks.push(hook);
}

export async function runAfterBackup(event: AfterBackupEvent): Promise<void> {
  for (const hook of afterBackupHooks) await hook(event);
}

/**
 * Runs a set's hook command with the shell; its output goes to stderr so stdout stays clean for
 * --json. Rejects when the command fails. (For `--type snapshot` the engine runs the hooks itself,
 * around the consistent capture; for the other types the CLI runs them around the backup.)
 */
export async function runShellHook(command: string, stage: 'pre' | 'post'): Promise<void> {
  const { spawn } = await import('node:child_process');
  const { CliError } = await import('./errors.js');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', process.stderr, process.stderr] });
    child.on('error', (err) => reject(new CliError(`${stage} hook ${JSON.stringify(command)} could not start (${err.message}); check the set's hooks`, 1, { cause: err })));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new CliError(`${stage} hook ${JSON.stringify(command)} failed (${signal ? `signal ${signal}` : `exit ${code}`})${stage === 'pre' ? '; the backup did not run' : ''}; fix the hook in the config file`));
    });
  });
}
