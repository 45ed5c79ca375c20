import { describe, expect, it } from 'vitest';

import { interpolate } from './datasource';
import { HeadroomQuery } from './types';

const vars: Record<string, string> = { $project: 'checkout', $direction: 'fetch' };
const replace = (s: string) => vars[s] ?? s;

describe('interpolate', () => {
  it('fills template variables', () => {
    const q: HeadroomQuery = { refId: 'A', queryType: 'quotas', project: '$project', direction: '$direction' as any };
    expect(interpolate(q, replace)).toMatchObject({ project: 'checkout', direction: 'fetch' });
  });

  it('treats an unset variable or All as every project', () => {
    for (const project of ['$unset', 'All', '*', '']) {
      const q: HeadroomQuery = { refId: 'A', queryType: 'throttled', project };
      expect(interpolate(q, replace).project).toBe('');
    }
  });

  it('falls back to produce for a bad direction', () => {
    const q: HeadroomQuery = { refId: 'A', queryType: 'quotas', direction: 'sideways' as any };
    expect(interpolate(q, replace).direction).toBe('produce');
  });

  it('does not change the query it is given', () => {
    const q: HeadroomQuery = { refId: 'A', queryType: 'quotas', project: '$project' };
    interpolate(q, replace);
    expect(q.project).toBe('$project');
  });
});
