#!/usr/bin/env node
// Every benchmark in sequence (one server under load at a time), then bench/RESULTS.md.
//   node bench/all.mjs            (about 5 minutes on 2 cores)
import { saveResult } from './lib/env.mjs';
import { runConnect } from './connect.mjs';
import { runPublish } from './publish.mjs';
import { runMint } from './mint.mjs';
import { runMemory } from './memory.mjs';
import { runDisconnect } from './disconnect.mjs';

const steps = [
  ['connect', () => runConnect()],
  ['publish', () => runPublish()],
  ['mint', () => runMint()],
  ['memory', () => runMemory()],
  ['disconnect', () => runDisconnect()],
];
for (const [name, run] of steps) {
  console.error(`bench: ${name}…`);
  const result = saveResult(name, await run());
  console.error(`bench: ${name} done (target ${result.target?.met ? 'met' : 'missed'})`);
}
await import('./report.mjs');
process.exit(0);
