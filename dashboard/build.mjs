// Bundles the dashboard (Preact + TSX) into dashboard/dist/app.js and app.css with esbuild. Run by
// the root `npm run build` (and so by `prepare` and `npm start`); the token API serves the output.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function buildDashboard({ outdir = path.join(here, 'dist'), minify = true } = {}) {
  await esbuild.build({
    entryPoints: { app: path.join(here, 'src/main.tsx') },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    // shared/src/acl measures topic length with Buffer.byteLength; the shim gives the same answer.
    inject: [path.join(here, 'src/bufferShim.ts')],
    minify,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
  });
  return outdir;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildDashboard();
  console.log(`dashboard bundle written to ${path.relative(process.cwd(), out)}`);
}
