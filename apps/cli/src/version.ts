/** The CLI's version, from package.json at build time (tsup inlines the JSON import). */
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
