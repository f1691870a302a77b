import { defineConfig } from 'vitest/config';
import shared from '../../vitest.shared.ts';

// Resolve the cloud SDKs as Node does: without the bundlers' `module` condition, which points the
// AWS SDK at ES builds that Node cannot load (extensionless imports).
const conditions = ['strata-source', 'node', 'import', 'default'];

export default defineConfig({
  ...shared,
  resolve: { ...shared.resolve, conditions },
  ssr: { ...shared.ssr, resolve: { ...shared.ssr?.resolve, conditions, externalConditions: ['strata-source', 'node'] } },
});
