import { describe, expect, test } from 'vitest';
import type { ChangeDetector } from '@strata/core';
import { detectorContract } from '@strata/testkit';
import { collectingRunner, named } from './collect-runner.js';

// Reference detectors written from the contract alone, so testkit can check its own suite.
const bySizeAndMtime = (flaw?: 'ignores-size' | 'hashes'): ChangeDetector => ({
  name: 'plain',
  readsContent: false,
  async detect(previous, current, context) {
    if (!previous) return { changed: true, reason: 'new' };
    if (flaw === 'hashes') await context.sha256();
    if (flaw !== 'ignores-size' && previous.size !== current.size) return { changed: true, reason: 'size' };
    if (previous.mtimeNs !== current.mtimeNs) return { changed: true, reason: 'mtime' };
    return { changed: false, reason: 'unchanged' };
  },
});

const byContent = (flaw?: 'never-reads'): ChangeDetector => ({
  name: 'content',
  readsContent: true,
  async detect(previous, current, context) {
    if (!previous) return { changed: true, reason: 'new' };
    if (previous.size !== current.size) return { changed: true, reason: 'size' };
    if (flaw === 'never-reads') return { changed: false, reason: 'unchanged' };
    return (await context.sha256()) === previous.sha256 ? { changed: false, reason: 'unchanged' } : { changed: true, reason: 'content' };
  },
});

detectorContract({ describe, test, expect }, () => bySizeAndMtime(), { catchesContentChange: false });
detectorContract({ describe, test, expect }, () => byContent(), { catchesContentChange: true });

async function failures(make: () => ChangeDetector, catchesContentChange: boolean): Promise<string[]> {
  const { runner, run } = collectingRunner();
  detectorContract(runner, make, { catchesContentChange });
  return named(await run(), 'failed').sort();
}

describe('the detector contract catches a flawed detector', () => {
  test('one that misses a size change', async () => {
    expect(await failures(() => bySizeAndMtime('ignores-size'), false)).toEqual(['a size change is changed']);
  });

  test('one that claims not to read content but hashes', async () => {
    expect(await failures(() => bySizeAndMtime('hashes'), false)).toEqual([
      'a size change is changed',
      'an mtime change alone (touch)',
      'an mtime change with new content of the same size is changed',
      'an unchanged file is unchanged',
      'new content with the same size and mtime',
    ]);
  });

  test('one that claims to catch content changes but never reads', async () => {
    expect(await failures(() => byContent('never-reads'), true)).toEqual(['an mtime change with new content of the same size is changed', 'new content with the same size and mtime']);
  });

  test('a metadata detector that claims to catch content changes', async () => {
    expect(await failures(() => bySizeAndMtime(), true)).toEqual(['declares a name and readsContent as claimed', 'new content with the same size and mtime']);
  });
});
