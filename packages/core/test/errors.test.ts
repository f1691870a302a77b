import { describe, expect, test } from 'vitest';
import { CorruptError, NotFoundError, StrataError, hasCode, isNotFound } from '../src/index.js';

describe('errors', () => {
  test('carry code, component, cause and transient mark', () => {
    const cause = new Error('socket hang up');
    const err = new NotFoundError('s3', 'key "config" does not exist', { cause, transient: false });
    expect(err).toBeInstanceOf(StrataError);
    expect(err.code).toBe('NOT_FOUND');
    expect(err.component).toBe('s3');
    expect(err.message).toBe('s3: key "config" does not exist');
    expect(err.cause).toBe(cause);
    expect(isNotFound(err)).toBe(true);
    expect(isNotFound(new Error('x'))).toBe(false);
  });
  test('corrupt is never transient', () => {
    expect(new CorruptError('engine', 'bad', { transient: true }).transient).toBe(false);
    expect(hasCode(new CorruptError('engine', 'bad'), 'CORRUPT')).toBe(true);
  });
});
