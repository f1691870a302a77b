import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The tests run the built CLI as users do; turbo builds it (test depends on build), else say how. */
export default function setup(): void {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  const engine = fileURLToPath(new URL('../../../packages/engine/dist/index.js', import.meta.url));
  for (const file of [cli, engine]) {
    if (!existsSync(file)) {
      throw new Error(`${file} is missing: build first with "pnpm --filter strata... build" (from the repository root)`);
    }
  }
}
