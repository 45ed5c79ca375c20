import React from 'react';
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';

import { ConfigEditor, withToken, withURL, withoutToken } from './ConfigEditor';

const options: any = {
  id: 1, uid: 'h', orgId: 1, name: 'Headroom', type: 'headroomhq-headroom-datasource', access: 'proxy',
  jsonData: { url: 'http://headroom:9644' }, secureJsonFields: { token: true }, secureJsonData: {},
};

describe('ConfigEditor option updates', () => {
  it('sets the URL in jsonData', () => {
    expect(withURL(options, 'http://h:1').jsonData.url).toBe('http://h:1');
  });
  it('keeps the token in secureJsonData only', () => {
    const o = withToken(options, 's3cret');
    expect(o.secureJsonData?.token).toBe('s3cret');
    expect(JSON.stringify(o.jsonData)).not.toContain('s3cret');
  });
  it('resets a saved token', () => {
    const o = withoutToken(options);
    expect(o.secureJsonFields.token).toBe(false);
    expect(o.secureJsonData?.token).toBe('');
  });
});

describe('ConfigEditor', () => {
  it('renders the URL and reports edits', () => {
    const onOptionsChange = vi.fn();
    render(<ConfigEditor options={options} onOptionsChange={onOptionsChange} />);
    const url = screen.getByDisplayValue('http://headroom:9644');
    fireEvent.change(url, { target: { value: 'http://other:9644' } });
    expect(onOptionsChange).toHaveBeenCalledWith(expect.objectContaining({ jsonData: { url: 'http://other:9644' } }));
  });
});
