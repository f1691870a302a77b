import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.ts';

// The end-to-end tests spawn the built CLI (dist/cli.js); the global setup checks it is there.
export default mergeConfig(shared, defineConfig({ test: { globalSetup: ['test/global-setup.ts'] } }));
