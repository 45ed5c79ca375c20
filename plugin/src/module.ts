import { DataSourcePlugin } from '@grafana/data';

import { ConfigEditor } from './components/ConfigEditor';
import { QueryEditor } from './components/QueryEditor';
import { DataSource } from './datasource';
import { HeadroomOptions, HeadroomQuery } from './types';

export const plugin = new DataSourcePlugin<DataSource, HeadroomQuery, HeadroomOptions>(DataSource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
