import type { Command } from 'commander';
import type { App } from '../program.js';

/** One command (or a group such as `key`): adds itself to the program. */
export interface CommandModule {
  register(program: Command, app: App): void;
}
