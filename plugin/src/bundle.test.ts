import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grafanaData from '@grafana/data';

// The bundle Grafana loads (build.mjs, `npm run build`): built here into a
// temporary directory, then run the way Grafana's loader runs it, with the
// real packages standing in for Grafana's own copies. The build runs in a
// child node process: esbuild refuses to run inside jsdom.
const buildScript = resolve(__dirname, '../build.mjs');

interface Built {
  deps: string[];
  metafile: { inputs: Record<string, unknown> };
  bytes: number;
}

let dir = '';
let built: Built;
let EXTERNALS: string[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'headroom-bundle-'));
  const out = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { build, EXTERNALS } from ${JSON.stringify('file://' + buildScript)};
       const r = await build(${JSON.stringify(dir)});
       console.log(JSON.stringify({ ...r, externals: EXTERNALS }));`,
    ],
    { encoding: 'utf8' },
  );
  const parsed = JSON.parse(out);
  built = parsed;
  EXTERNALS = parsed.externals;
});

afterAll(() => {
  if (dir) {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** load runs module.js as an AMD module and returns what it exports. */
async function load(source: string): Promise<any> {
  const modules: Record<string, () => Promise<unknown>> = {
    '@grafana/data': () => import('@grafana/data'),
    '@grafana/runtime': () => import('@grafana/runtime'),
    '@grafana/ui': () => import('@grafana/ui'),
    react: () => import('react'),
  };
  let factory: ((...deps: unknown[]) => unknown) | undefined;
  let names: string[] = [];
  const define = (deps: string[], f: (...deps: unknown[]) => unknown) => {
    names = deps;
    factory = f;
  };
  new Function('define', source)(define);
  expect(factory).toBeTypeOf('function');
  const deps = await Promise.all(
    names.map((n) => {
      if (!modules[n]) {
        throw new Error(`the bundle asks for ${n}, which this test does not provide`);
      }
      return modules[n]();
    }),
  );
  return factory!(...deps);
}

describe('bundle', () => {
  it('keeps what Grafana provides external', () => {
    expect(built.deps).toEqual(expect.arrayContaining(['@grafana/data', '@grafana/runtime', '@grafana/ui', 'react']));
    for (const d of built.deps) {
      expect(EXTERNALS).toContain(d);
    }
    const bundled = Object.keys(built.metafile.inputs).filter((p) => p.includes('node_modules'));
    expect(bundled).toEqual([]);
    expect(Object.keys(built.metafile.inputs)).toEqual(
      expect.arrayContaining(['src/module.ts', 'src/components/QueryEditor.tsx', 'src/components/ConfigEditor.tsx']),
    );
  });

  it('exports the plugin with both editors', async () => {
    const source = readFileSync(join(dir, 'module.js'), 'utf8');
    expect(source.startsWith('define([')).toBe(true);
    const exported = await load(source);
    expect(exported.plugin).toBeInstanceOf(grafanaData.DataSourcePlugin);
    expect(exported.plugin.components.ConfigEditor).toBeTypeOf('function');
    expect(exported.plugin.components.QueryEditor).toBeTypeOf('function');
    expect(exported.plugin.DataSourceClass).toBeTypeOf('function');
  });
});
