// The config file schema: what is accepted, and how a problem is named.
import { describe, expect, test } from 'vitest';
import { validateConfig } from '../src/config-schema.js';
import { retentionOf } from '../src/config.js';

describe('validateConfig', () => {
  test('accepts a full config', () => {
    const config = {
      repository: 's3:bucket/app',
      passwordFile: '/etc/strata/pw',
      plugins: ['strata-plugin-x'],
      sets: {
        web: {
          paths: ['/srv/web'],
          excludes: ['*.tmp'],
          type: 'snapshot',
          tags: ['web'],
          host: 'web-1',
          hooks: { pre: 'fsfreeze -f /srv', post: ['fsfreeze -u /srv'] },
          retention: { keepDaily: 7, keepWithin: '30d' },
        },
        db: { paths: ['/var/lib/db'], retentionDays: 30 },
      },
      retention: { keepLast: 10, keepTags: ['keep'] },
      copyTo: ['gs:offsite/app', { repository: 'azure:c/app', passwordFile: 'pw2' }],
    };
    const r = validateConfig(config);
    expect(r.ok).toBe(true);
  });

  test.each([
    [{ sets: { web: { paths: '/srv' } } }, 'sets.web.paths: expected an array of strings'],
    [{ sets: { web: { paths: ['/srv', 3] } } }, 'sets.web.paths: expected an array of strings'],
    [{ sets: { web: { paths: [] } } }, 'sets.web.paths: expected at least one path'],
    [{ sets: { web: {} } }, 'sets.web.paths: expected an array of strings'],
    [{ sets: { web: { paths: ['/'], type: 'weekly' } } }, 'sets.web.type: expected "full", "incremental", "differential" or "snapshot"'],
    [{ sets: { web: { paths: ['/'], exclude: [] } } }, 'sets.web.exclude: unknown key'],
    [{ sets: { web: { paths: ['/'], hooks: { pre: 5 } } } }, 'sets.web.hooks.pre: expected a shell command or an array of them'],
    [{ sets: { web: { paths: ['/'], retention: { keepDaily: 1.5 } } } }, 'sets.web.retention.keepDaily: expected a whole number (-1 for unlimited)'],
    [{ retention: { keepWithin: 'a month' } }, 'retention.keepWithin: expected a duration such as "30d", "1y6m" or "2h"'],
    [{ repository: '' }, 'repository: expected a repository URL, not an empty string'],
    [{ plugins: 'x' }, 'plugins: expected an array of strings'],
    [{ copyTo: [5] }, 'copyTo.0: expected a repository URL or {"repository": URL, "passwordFile": F}'],
    [{ repositry: '/r' }, 'repositry: unknown key'],
    [[1, 2], '(top level): expected a JSON object'],
  ])('%j -> %s', (config, message) => {
    const r = validateConfig(config);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems).toContain(message);
  });

  test('retentionDays reads as keepWithin N days; a retention section wins', () => {
    expect(retentionOf({ retentionDays: 30 })).toEqual({ keepWithin: '30d' });
    expect(retentionOf({ retention: { keepDaily: 7 }, retentionDays: 30 })).toEqual({ keepDaily: 7 });
    expect(retentionOf({})).toBeUndefined();
  });
});
