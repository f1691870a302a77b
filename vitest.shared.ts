// Shared vitest settings: tests run against the TypeScript sources of workspace packages
// (the `strata-source` export condition), so no build is needed between an edit and a test.
import { defineConfig } from 'vitest/config';

const sourceConditions = ['strata-source', 'import', 'node', 'default'];

export default defineConfig({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions, externalConditions: ['strata-source'] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
