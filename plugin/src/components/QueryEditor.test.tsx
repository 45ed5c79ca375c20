import React from 'react';
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';

import { QueryEditor, usesProject } from './QueryEditor';

describe('usesProject', () => {
  it('is true only for per-project queries', () => {
    expect(usesProject('quotas')).toBe(true);
    expect(usesProject('throttled')).toBe(true);
    expect(usesProject('detector')).toBe(true);
    expect(usesProject('alerts')).toBe(false);
    expect(usesProject('topn')).toBe(false);
  });
});

describe('QueryEditor', () => {
  it('edits the project and runs on blur', () => {
    const onChange = vi.fn();
    const onRunQuery = vi.fn();
    render(<QueryEditor query={{ refId: 'A', queryType: 'quotas', project: '' }} onChange={onChange} onRunQuery={onRunQuery}
      datasource={{} as any} />);
    const input = document.getElementById('headroom-project') as HTMLInputElement;
    fireEvent.change(input, { target: { value: 'checkout' } });
    expect(onChange).toHaveBeenCalledWith(expect.objectContaining({ project: 'checkout' }));
    fireEvent.blur(input);
    expect(onRunQuery).toHaveBeenCalled();
  });

  it('shows top N fields only for topn', () => {
    render(<QueryEditor query={{ refId: 'A', queryType: 'topn', n: 5 }} onChange={vi.fn()} onRunQuery={vi.fn()} datasource={{} as any} />);
    expect(screen.getByDisplayValue('5')).toBeTruthy();
    expect(document.getElementById('headroom-project')).toBeNull();
  });
});
