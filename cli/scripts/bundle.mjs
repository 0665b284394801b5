// Bundles the CLI (cli/dist/main.js, compiled by tsc) with its JavaScript dependencies into one
// file, cli/dist/bundle/signalgate.mjs: the `signalgate` bin. Loading ~600 modules one by one was
// most of a cold start (measured: ~1.3 s to ready unbundled, ~0.7 s bundled). Left outside: the
// native modules (better-sqlite3, argon2), aedes (broker/src/clientClosed.ts patches its Client
// class, which must be the one aedes itself loads) and pino-pretty (loaded only in a TTY).
// The bundle sits two folders below the root, as token-api/dist/dashboard/ does, so paths that
// modules resolve from import.meta.url (the dashboard's static files) stay right.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CLI_BUNDLE = path.resolve(here, '../dist/bundle/signalgate.mjs');

export async function bundleCli() {
  await build({
    entryPoints: [path.resolve(here, '../dist/main.js')],
    outfile: CLI_BUNDLE,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: ['node20'],
    external: ['better-sqlite3', 'argon2', 'aedes', 'pino-pretty'],
    // CommonJS dependencies call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __signalgateRequire } from 'node:module'; const require = __signalgateRequire(import.meta.url);" },
    legalComments: 'eof',
    logLevel: 'warning',
  });
  return CLI_BUNDLE;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCli();
}
