// The baseline: the same aedes SignalGate uses, with no hooks, on 127.0.0.1 (port 0 or argv[2]).
// Prints {"port": N} once listening; SIGTERM closes it.
import net from 'node:net';
import { Aedes } from 'aedes';

const aedes = await Aedes.createBroker();
const server = net.createServer((socket) => {
  socket.setNoDelay(true); // as SignalGate's listener does
  aedes.handle(socket);
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
process.on('SIGTERM', () => {
  server.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
