import React, { ChangeEvent } from 'react';
import { InlineField, Input, SecretInput } from '@grafana/ui';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';

import { HeadroomOptions, HeadroomSecureOptions } from '../types';

type Props = DataSourcePluginOptionsEditorProps<HeadroomOptions, HeadroomSecureOptions>;

/** withURL returns the options with a new API URL. */
export function withURL(options: Props['options'], url: string): Props['options'] {
  return { ...options, jsonData: { ...options.jsonData, url } };
}

/** withToken returns the options with a new token, kept in secureJsonData. */
export function withToken(options: Props['options'], token: string): Props['options'] {
  return { ...options, secureJsonData: { ...options.secureJsonData, token } };
}

/** withoutToken clears a saved token so that a new one can be typed. */
export function withoutToken(options: Props['options']): Props['options'] {
  return {
    ...options,
    secureJsonFields: { ...options.secureJsonFields, token: false },
    secureJsonData: { ...options.secureJsonData, token: '' },
  };
}

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const { jsonData, secureJsonFields, secureJsonData } = options;
  return (
    <>
      <InlineField label="Headroom URL" labelWidth={18} tooltip="Where Headroom serves /api/v1, e.g. http://headroom:9644">
        <Input
          id="headroom-url"
          width={40}
          value={jsonData.url || ''}
          placeholder="http://headroom:9644"
          onChange={(e: ChangeEvent<HTMLInputElement>) => onOptionsChange(withURL(options, e.target.value))}
        />
      </InlineField>
      <InlineField label="API token" labelWidth={18} tooltip="A viewer token reads; an operator token can also tune quotas and approve actions.">
        <SecretInput
          id="headroom-token"
          width={40}
          isConfigured={!!secureJsonFields?.token}
          value={secureJsonData?.token || ''}
          placeholder="token"
          onReset={() => onOptionsChange(withoutToken(options))}
          onChange={(e: ChangeEvent<HTMLInputElement>) => onOptionsChange(withToken(options, e.target.value))}
        />
      </InlineField>
    </>
  );
}
