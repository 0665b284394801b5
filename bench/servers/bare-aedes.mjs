// The baseline: aedes with no hooks, on 127.0.0.1.
//   node bench/servers/bare-aedes.mjs [port] [--line 2|1.2]
// `--line 2` (default) is the aedes SignalGate runs on (the `aedes` dependency, 2.0.0-beta.1, which
// speaks MQTT 5); `--line 1.2` is the previous one (the `aedes-1.2` dev dependency alias, 1.2.0,
// MQTT 3.1/3.1.1 only: it answers a v5 CONNECT with CONNACK 1). Both use the same options (the
// defaults) and the same listener, so the two lines differ only in aedes itself.
// Prints {"port": N, "aedes": "<version>"} once listening; SIGTERM closes it.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const lineAt = argv.indexOf('--line');
const line = lineAt >= 0 ? argv.splice(lineAt, 2)[1] : '2';
const PACKAGES = { 2: 'aedes', '1.2': 'aedes-1.2' };
const pkg = PACKAGES[line];
if (!pkg) {
  console.error(`bare-aedes: unknown --line ${line} (2 or 1.2)`);
  process.exit(2);
}
const { Aedes } = await import(pkg);
// Its package.json is not exported: read the one beside the entry point (aedes.js at the package root).
const version = JSON.parse(fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.resolve(pkg))), 'package.json'), 'utf8')).version;

const aedes = await Aedes.createBroker();
const server = net.createServer((socket) => {
  socket.setNoDelay(true); // as SignalGate's listener does
  aedes.handle(socket);
});
server.listen(Number(argv[0] ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port, aedes: version }));
});
process.on('SIGTERM', () => {
  server.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
