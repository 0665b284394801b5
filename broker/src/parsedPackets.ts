// Packets whose filters must be in the org's namespace before aedes handles them (SUBSCRIBE,
// UNSUBSCRIBE) are rewritten as the parser emits them: a listener prepended to aedes' own. Packets
// that arrive before authentication completes wait in aedes' queue until 'connected' (lib/client.js
// enqueue/dequeue) and are rewritten just before aedes handles them.
import type { Client } from 'aedes';
import type { BrokerContext } from './context.js';
import type { ClientSession } from './sessions.js';

type ParserOf = { _parser: { prependListener(event: 'packet', fn: (p: { cmd: string }) => void): void } };

export function onParsed<P extends { cmd: string }>(ctx: BrokerContext, client: Client, cmd: P['cmd'], rewrite: (packet: P, s: ClientSession) => void): void {
  const pending: P[] = [];
  (client as unknown as ParserOf)._parser.prependListener('packet', (packet) => {
    if (packet.cmd !== cmd) return;
    const s = ctx.sessions.get(client);
    if (s) rewrite(packet as P, s);
    else pending.push(packet as P);
  });
  client.prependOnceListener('connected', () => {
    const s = ctx.sessions.get(client);
    if (s) for (const p of pending.splice(0)) rewrite(p, s);
  });
}
