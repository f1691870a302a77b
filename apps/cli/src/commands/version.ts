import { VERSION } from '../version.js';
import type { CommandModule } from './types.js';

export const command: CommandModule = {
  register(program, app) {
    program
      .command('version')
      .description('print the version of strata and of Node.js')
      .addHelpText('after', '\nExamples:\n  $ strata version\n  $ strata version --json')
      .action(
        app.action(async (ctx) => {
          const info = { version: VERSION, node: process.version, platform: process.platform, arch: process.arch };
          if (ctx.output.json) ctx.output.document(info);
          else ctx.output.result(`strata ${VERSION} (node ${process.version}, ${process.platform}/${process.arch})`);
        }),
      );
  },
};
