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
