// UNSUBSCRIBE: aedes has no hook for it, and it looks the filters up in client.subscriptions,
// which holds internal (org-prefixed) filters. So the filters of each UNSUBSCRIBE packet are moved
// into the org's namespace as the parser emits it, before aedes handles it. Packets that arrive
// before authentication completes are queued by aedes until 'connected' and rewritten just before.
import type { Client } from 'aedes';
import { internalTopic } from '@signalgate/shared';
import type { BrokerContext } from '../context.js';

interface UnsubscribePacket {
  cmd: string;
  unsubscriptions?: string[];
}

type ParserOf = { _parser: { prependListener(event: 'packet', fn: (p: UnsubscribePacket) => void): void } };

export function rewriteUnsubscribes(ctx: BrokerContext, client: Client): void {
  const pending: UnsubscribePacket[] = [];
  const rewrite = (packet: UnsubscribePacket, orgId: string) => {
    packet.unsubscriptions = (packet.unsubscriptions ?? []).map((f) => internalTopic(orgId, f));
  };
  (client as unknown as ParserOf)._parser.prependListener('packet', (packet) => {
    if (packet.cmd !== 'unsubscribe') return;
    const s = ctx.sessions.get(client);
    if (s) rewrite(packet, s.orgId);
    else pending.push(packet);
  });
  client.prependOnceListener('connected', () => {
    const s = ctx.sessions.get(client);
    if (s) for (const p of pending.splice(0)) rewrite(p, s.orgId);
  });
}
