// Bundles the SDK for browsers as one ES module: client/dist/browser/cloudsignal.js.
// mqtt resolves to its own browser build (package.json "browser" condition), so no Node builtins
// reach the page. Run by the root `npm run build` / `prepare`; the browser tests call bundle().
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BUNDLE_PATH = path.resolve(here, '../dist/browser/cloudsignal.js');

export async function bundle() {
  await build({
    entryPoints: [path.resolve(here, '../src/index.ts')],
    outfile: BUNDLE_PATH,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    sourcemap: true,
    minify: true,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  return BUNDLE_PATH;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundle();
}
