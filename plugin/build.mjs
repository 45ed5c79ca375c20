// Bundles src/module.ts into dist/module.js, the frontend Grafana loads.
//
// Grafana loads a plugin's module.js as an AMD module and hands it its own
// copies of React, rxjs and the @grafana/* packages, so those stay
// external: esbuild bundles our sources as CommonJS, and the result is
// wrapped in define() with the externals it requires as dependencies.
//
// Usage: node build.mjs [outdir]   (default dist)
import * as esbuild from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Modules Grafana provides to plugins at run time. */
export const EXTERNALS = [
  '@grafana/data',
  '@grafana/runtime',
  '@grafana/ui',
  '@grafana/schema',
  '@grafana/i18n',
  '@emotion/css',
  '@emotion/react',
  'react',
  'react-dom',
  'react-router',
  'react-router-dom',
  'react-redux',
  'redux',
  'rxjs',
  'rxjs/operators',
  'lodash',
  'moment',
  'jquery',
  'd3',
  'slate',
  'slate-react',
  'slate-plain-serializer',
  'prismjs',
  'emotion',
];

const here = dirname(fileURLToPath(import.meta.url));

/**
 * build bundles the plugin into outdir/module.js and returns the AMD
 * dependencies it declares and esbuild's metafile.
 */
export async function build(outdir = join(here, 'dist')) {
  const res = await esbuild.build({
    entryPoints: [join(here, 'src/module.ts')],
    absWorkingDir: here,
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'browser',
    target: 'es2020',
    jsx: 'transform', // React.createElement, as tsconfig.json says
    external: EXTERNALS,
    minify: true,
    sourcemap: false,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const deps = [];
  for (const out of Object.values(res.metafile.outputs)) {
    for (const imp of out.imports ?? []) {
      if (imp.external && !deps.includes(imp.path)) {
        deps.push(imp.path);
      }
    }
  }
  deps.sort();
  const cjs = res.outputFiles[0].text;
  const amd =
    `define(${JSON.stringify(deps)}, function () {\n` +
    `var __deps = arguments, __names = ${JSON.stringify(deps)};\n` +
    `var require = function (n) { var i = __names.indexOf(n); if (i < 0) { throw new Error("headroom plugin: no module " + n); } return __deps[i]; };\n` +
    `var module = { exports: {} }, exports = module.exports;\n` +
    cjs +
    `\nreturn module.exports;\n});\n`;
  mkdirSync(outdir, { recursive: true });
  writeFileSync(join(outdir, 'module.js'), amd);
  return { deps, metafile: res.metafile, bytes: amd.length };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outdir = process.argv[2] ? process.argv[2] : join(here, 'dist');
  build(outdir).then(
    (r) => console.log(`build: ${join(outdir, 'module.js')} (${r.bytes} bytes; external ${r.deps.join(', ')})`),
    (err) => {
      console.error(`build: ${err.message}`);
      process.exit(1);
    },
  );
}
