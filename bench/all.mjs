#!/usr/bin/env node
// Every benchmark in sequence (one server under load at a time), then bench/RESULTS.md.
// connect, publish and memory run at MQTT 3.1.1 and MQTT 5 against SignalGate, bare aedes 2 beta,
// bare aedes 1.2 and mosquitto in the same rounds.
//   node bench/all.mjs [--protocol 4|5|both]        (about 14 minutes on 2 cores)
//   node bench/all.mjs --smoke                      (about 3.5 minutes: 1 short round of each, to check
//                                                    the bench itself; saved as bench/results/smoke-*.json,
//                                                    RESULTS.md is left alone)
import { arg, saveResult } from './lib/env.mjs';
import { parseProtocols } from './lib/mqttLoad.mjs';
import { runConnect } from './connect.mjs';
import { runPublish } from './publish.mjs';
import { runMint } from './mint.mjs';
import { runMemory } from './memory.mjs';
import { runDisconnect } from './disconnect.mjs';
import { runExchange } from './exchange.mjs';

const smoke = process.argv.includes('--smoke');
const protocols = parseProtocols(arg('protocol', 'both'));
const steps = [
  ['connect', () => runConnect(smoke ? { clients: 200, rounds: 1, protocols } : { protocols })],
  ['publish', () => runPublish(smoke ? { seconds: 1, rounds: 1, protocols } : { protocols })],
  ['mint', () => runMint(smoke ? { seconds: 1, rounds: 1 } : {})],
  ['memory', () => runMemory(smoke ? { connections: 2000, settleSeconds: 1, protocols } : { protocols })],
  ['disconnect', () => runDisconnect(smoke ? { sessions: 50 } : {})],
  ['exchange', () => runExchange(smoke ? { seconds: 1, rounds: 1 } : {})],
];
const t0 = Date.now();
for (const [name, run] of steps) {
  console.error(`bench: ${name}…`);
  const result = saveResult(smoke ? `smoke-${name}` : name, await run());
  const took = `${Math.round((Date.now() - t0) / 1000)} s so far`;
  console.error(`bench: ${name} done (${took}${result.target ? `; target ${result.target.met ? 'met' : 'missed'}` : ''})`);
}
if (!smoke) await import('./report.mjs');
process.exit(0);
