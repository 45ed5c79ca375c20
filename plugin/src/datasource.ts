import { CoreApp, DataSourceInstanceSettings, ScopedVars } from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv } from '@grafana/runtime';

import { DEFAULT_QUERY, HeadroomOptions, HeadroomQuery } from './types';

/** interpolate fills template variables; an unset $project means all projects. */
export function interpolate(query: HeadroomQuery, replace: (s: string) => string): HeadroomQuery {
  let project = query.project ? replace(query.project) : '';
  if (project.startsWith('$') || project === 'All' || project === '*') {
    project = '';
  }
  let direction = query.direction ? replace(query.direction) : 'produce';
  if (direction !== 'produce' && direction !== 'fetch') {
    direction = 'produce';
  }
  return { ...query, project, direction: direction as HeadroomQuery['direction'] };
}

export class DataSource extends DataSourceWithBackend<HeadroomQuery, HeadroomOptions> {
  constructor(instanceSettings: DataSourceInstanceSettings<HeadroomOptions>) {
    super(instanceSettings);
  }

  getDefaultQuery(_: CoreApp): Partial<HeadroomQuery> {
    return DEFAULT_QUERY;
  }

  applyTemplateVariables(query: HeadroomQuery, scopedVars: ScopedVars): HeadroomQuery {
    const srv = getTemplateSrv();
    return interpolate(query, (s) => srv.replace(s, scopedVars));
  }

  filterQuery(query: HeadroomQuery): boolean {
    return !query.hide && !!query.queryType;
  }
}
