import { DataQuery, DataSourceJsonData } from '@grafana/data';

/** Query types the backend serves (plugin/query.go). */
export const QUERY_TYPES = ['quotas', 'ledger', 'throttled', 'detector', 'alerts', 'topn'] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

export const TOPN_METRICS = ['throttled', 'borrowed', 'lent', 'demand', 'quota', 'forecast', 'throttle_ms', 'score'] as const;

export interface HeadroomQuery extends DataQuery {
  queryType: QueryType;
  /** One project; empty means every project. Template variables allowed. */
  project?: string;
  direction?: 'produce' | 'fetch';
  metric?: (typeof TOPN_METRICS)[number];
  n?: number;
}

export const DEFAULT_QUERY: Partial<HeadroomQuery> = {
  queryType: 'quotas',
  direction: 'produce',
};

/** jsonData: the API URL and how often the plan stream polls. */
export interface HeadroomOptions extends DataSourceJsonData {
  url?: string;
  streamInterval?: number;
}

/** secureJsonData: the API token, never sent back to the browser. */
export interface HeadroomSecureOptions {
  token?: string;
}
