import { expect } from 'vitest';
import type { ContractRunner } from '@strata/testkit';

export interface Outcome {
  status: 'passed' | 'failed' | 'skipped';
  error?: unknown;
}

class Skipped extends Error {}

/**
 * A runner that collects a contract suite's tests instead of registering them, so a test can run
 * the suite against a flawed plugin and check which of its tests fail.
 */
export function collectingRunner(): { runner: ContractRunner; run(): Promise<Map<string, Outcome>> } {
  const tests: { name: string; fn: Parameters<ContractRunner['test']>[1] }[] = [];
  const path: string[] = [];
  const runner: ContractRunner = {
    describe(name, fn) {
      path.push(name);
      fn();
      path.pop();
    },
    test(name, fn) {
      tests.push({ name: [...path, name].join(' > '), fn });
    },
    expect: (actual, message) => expect(actual, message),
  };
  return {
    runner,
    async run() {
      const outcomes = new Map<string, Outcome>();
      for (const { name, fn } of tests) {
        try {
          await fn({
            skip: (note?: string) => {
              throw new Skipped(note);
            },
          });
          outcomes.set(name, { status: 'passed' });
        } catch (error) {
          outcomes.set(name, error instanceof Skipped ? { status: 'skipped' } : { status: 'failed', error });
        }
      }
      return outcomes;
    },
  };
}

/** Names of the tests with the given status, with the suite title removed. */
export function named(outcomes: Map<string, Outcome>, status: Outcome['status']): string[] {
  return [...outcomes].filter(([, o]) => o.status === status).map(([name]) => name.replace(/^.* > /, ''));
}
