import { defineConfig } from 'tsup';

// Every dependency (the engine, each plugin, commander, zod, pino) stays external: plugins are imported
// lazily by name when their scheme or codec is needed, and the engine's worker threads re-import codecs
// and ciphers by their module URL, which only works when they are real packages on disk.
export default defineConfig({
  entry: ['src/cli.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  clean: true,
  splitting: true,
  sourcemap: false,
});
