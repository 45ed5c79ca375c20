import React, { ChangeEvent } from 'react';
import { InlineField, Input, Select, Stack } from '@grafana/ui';
import { QueryEditorProps, SelectableValue } from '@grafana/data';

import { DataSource } from '../datasource';
import { HeadroomOptions, HeadroomQuery, QUERY_TYPES, QueryType, TOPN_METRICS } from '../types';

type Props = QueryEditorProps<DataSource, HeadroomQuery, HeadroomOptions>;

const typeOptions: Array<SelectableValue<QueryType>> = QUERY_TYPES.map((t) => ({ label: t, value: t }));
const directionOptions = [
  { label: 'produce', value: 'produce' as const },
  { label: 'fetch', value: 'fetch' as const },
];
const metricOptions = TOPN_METRICS.map((m) => ({ label: m, value: m }));

/** usesProject says whether a query type reads the project field. */
export function usesProject(t: QueryType): boolean {
  return t === 'quotas' || t === 'ledger' || t === 'throttled' || t === 'detector';
}

export function QueryEditor({ query, onChange, onRunQuery }: Props) {
  const set = (patch: Partial<HeadroomQuery>) => {
    onChange({ ...query, ...patch });
    onRunQuery();
  };
  return (
    <Stack gap={1} wrap="wrap">
      <InlineField label="Query" labelWidth={10}>
        <Select inputId="headroom-query-type" width={16} options={typeOptions} value={query.queryType}
          onChange={(v) => set({ queryType: v.value! })} />
      </InlineField>
      {query.queryType !== 'alerts' && (
        <InlineField label="Direction" labelWidth={12}>
          <Select inputId="headroom-direction" width={12} options={directionOptions} value={query.direction || 'produce'}
            onChange={(v) => set({ direction: v.value })} />
        </InlineField>
      )}
      {usesProject(query.queryType) && (
        <InlineField label="Project" labelWidth={10} tooltip="Empty for every project; template variables allowed.">
          <Input id="headroom-project" width={20} value={query.project || ''}
            onChange={(e: ChangeEvent<HTMLInputElement>) => onChange({ ...query, project: e.target.value })}
            onBlur={onRunQuery} />
        </InlineField>
      )}
      {query.queryType === 'topn' && (
        <>
          <InlineField label="By" labelWidth={6}>
            <Select inputId="headroom-metric" width={14} options={metricOptions} value={query.metric || 'throttled'}
              onChange={(v) => set({ metric: v.value })} />
          </InlineField>
          <InlineField label="N" labelWidth={4}>
            <Input id="headroom-n" type="number" width={8} value={query.n ?? 10}
              onChange={(e: ChangeEvent<HTMLInputElement>) => {
                const n = parseInt(e.target.value, 10);
                onChange({ ...query, n: Number.isFinite(n) && n > 0 ? n : 10 });
              }}
              onBlur={onRunQuery} />
          </InlineField>
        </>
      )}
    </Stack>
  );
}
