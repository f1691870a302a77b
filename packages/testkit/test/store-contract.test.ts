import { describe, expect, test } from 'vitest';
import { storeContract } from '@strata/testkit';
import { memoryStore, type MemoryFlaws } from './memory-store.js';
import { collectingRunner, named } from './collect-runner.js';

const all = { rangeRead: true, conditionalCreate: true, atomicPut: true };

// One map shared by every test, as a bucket is shared: each test must stay in its prefix and clean up.
const shared = new Map<string, Uint8Array>();
storeContract({ describe, test, expect }, (prefix) => memoryStore(shared, prefix, all), { name: 'memory' });

test('the shared map is empty after the suite', () => {
  expect([...shared.keys()]).toEqual([]);
});

async function outcomes(flaws: MemoryFlaws, capabilities = all) {
  const { runner, run } = collectingRunner();
  const objects = new Map<string, Uint8Array>();
  storeContract(runner, (prefix) => memoryStore(objects, prefix, capabilities, flaws), { largeObjectSize: 1024 * 1024 });
  return run();
}

describe('the store contract catches a flawed store', () => {
  const cases: [string, MemoryFlaws, string[]][] = [
    ['a range that ignores its length', { ignoreRangeLength: true }, ['a 1 MiB object round-trips, whole and in ranges', 'ranges at the start, middle and end, and past the end', '64 concurrent puts and gets', 'get into a caller buffer returns the same bytes, whole and in ranges']],
    ['a missing key read as empty', { missingIsEmpty: true }, ['get and stat of a missing key throw NotFoundError', 'delete removes an object; deleting a missing key is fine', 'get into a caller buffer returns the same bytes, whole and in ranges']],
    ['a paginated listing that repeats keys', { listTwiceAfter: 1000 }, ['list of more than 1,000 keys (1100) yields each exactly once']],
    ['ifAbsent ignored', { ignoreIfAbsent: true }, ['put with ifAbsent refuses a second write and keeps the first bytes', 'concurrent puts with ifAbsent: exactly one wins, the object is whole']],
    ['delete of a missing key that throws', { deleteMissingThrows: true }, ['delete removes an object; deleting a missing key is fine']],
    ['keeping the caller\'s array', { keepCallerArray: true }, ["put keeps the bytes it was given, not the caller's array"]],
    ['errors that name another component', { wrongComponent: true }, ['get and stat of a missing key throw NotFoundError', 'delete removes an object; deleting a missing key is fine', 'get into a caller buffer returns the same bytes, whole and in ranges']],
    ['a get into a caller buffer that returns the whole buffer', { intoWholeBuffer: true }, ['get into a caller buffer returns the same bytes, whole and in ranges']],
  ];
  for (const [what, flaws, failing] of cases) {
    test(what, async () => {
      const result = await outcomes(flaws);
      expect(named(result, 'failed').sort()).toEqual([...failing].sort());
    });
  }

  test('a temporary object left in the listing fails every test that writes', async () => {
    const result = await outcomes({ leakTempKey: true });
    const failed = named(result, 'failed');
    expect(failed).toContain('an empty object round-trips');
    expect(failed).toContain('every character of the key layout');
    // Only tests that write nothing, or delete all they wrote themselves, get through.
    expect(named(result, 'passed').sort()).toEqual(['delete removes an object; deleting a missing key is fine', 'describes itself: name, location and capabilities']);
  });

  test('a delete that does nothing fails the clean-up check of every test that writes', async () => {
    const result = await outcomes({ deleteIsNoop: true });
    expect(named(result, 'passed')).toEqual(['describes itself: name, location and capabilities']);
    const cleanUp = [...result.values()].filter((o) => String(o.error).includes('everything the test wrote is deleted'));
    expect(cleanUp.length).toBeGreaterThanOrEqual(12);
  });

  test('a sound store passes every test', async () => {
    const result = await outcomes({});
    expect(named(result, 'failed')).toEqual([]);
    expect(named(result, 'skipped')).toEqual([]);
    expect(result.size).toBeGreaterThanOrEqual(15);
  });

  test('groups that need an undeclared capability skip themselves', async () => {
    const result = await outcomes({ ignoreIfAbsent: true }, { rangeRead: true, conditionalCreate: false, atomicPut: false });
    expect(named(result, 'skipped').sort()).toEqual(['a reader never sees a partly written object', 'concurrent puts with ifAbsent: exactly one wins, the object is whole']);
    // The sequential refusal holds for every store (the others check with stat first).
    expect(named(result, 'failed')).toEqual(['put with ifAbsent refuses a second write and keeps the first bytes']);
  });
});
