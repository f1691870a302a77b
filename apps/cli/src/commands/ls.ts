import type { NodeEntry } from '@strata/engine';
import { formatBytes, localTime } from '../format.js';
import type { CommandModule } from './types.js';

function modeString(entry: NodeEntry): string {
  const kind: Record<string, string> = { dir: 'd', symlink: 'l', fifo: 'p', socket: 's', chardev: 'c', blockdev: 'b' };
  const bits = 'rwxrwxrwx';
  let s = kind[entry.type] ?? '-';
  for (let i = 0; i < 9; i++) s += entry.mode & (1 << (8 - i)) ? bits[i] : '-';
  // setuid, setgid and sticky show in the execute columns, as ls(1) shows them.
  const special = (at: number, bit: number, set: string) => {
    if (entry.mode & bit) s = s.slice(0, at) + (s[at] === 'x' ? set : set.toUpperCase()) + s.slice(at + 1);
  };
  special(3, 0o4000, 's');
  special(6, 0o2000, 's');
  special(9, 0o1000, 't');
  return s;
}

export const command: CommandModule = {
  register(program, app) {
    program
      .command('ls')
      .description('list the files and folders in a snapshot')
      .argument('<snapshot>', 'snapshot id, unique prefix, or latest')
      .argument('[path]', 'only this folder (or file) inside the snapshot')
      .option('-l, --long', 'show mode, owner, size and time')
      .addHelpText(
        'after',
        `
Examples:
  $ strata ls latest
  $ strata ls 4f2a9c /srv/app/config -l
  $ strata ls latest --json`,
      )
      .action(
        app.action(async (ctx, ref: string, dir: string | undefined, opts: { long?: boolean }) => {
          const repo = await ctx.open();
          const entries: NodeEntry[] = [];
          const lines: string[] = [];
          for await (const entry of repo.ls(ref, dir)) {
            if (ctx.output.json) entries.push(entry);
            else if (opts.long) {
              const target = entry.linkTarget ? ` -> ${entry.linkTarget}` : '';
              lines.push(`${modeString(entry)} ${String(entry.uid).padStart(5)} ${String(entry.gid).padStart(5)} ${formatBytes(entry.size).padStart(11)} ${localTime(entry.mtime)} ${entry.path}${target}`);
            } else lines.push(entry.path);
          }
          if (ctx.output.json) ctx.output.document(entries);
          else if (lines.length) ctx.output.result(lines.join('\n'));
        }),
      );
  },
};
