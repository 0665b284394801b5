// UNSUBSCRIBE: aedes has no hook for it, and it looks the filters up in client.subscriptions,
// which holds internal (org-prefixed) filters. So the filters of each UNSUBSCRIBE packet are moved
// into the org's namespace as the parser emits it, before aedes handles it (parsedPackets.ts).
import type { Client } from 'aedes';
import { internalTopic } from '@signalgate/shared';
import type { BrokerContext } from '../context.js';
import { grantedFilters } from '../grantedQos.js';
import { onParsed } from '../parsedPackets.js';

interface UnsubscribePacket {
  cmd: 'unsubscribe';
  unsubscriptions?: string[];
}

export function rewriteUnsubscribes(ctx: BrokerContext, client: Client): void {
  onParsed<UnsubscribePacket>(ctx, client, 'unsubscribe', (packet, s) => {
    packet.unsubscriptions = (packet.unsubscriptions ?? []).map((f) => internalTopic(s.orgId, f));
    const granted = grantedFilters(client);
    for (const filter of packet.unsubscriptions) {
      granted.removed(filter);
      ctx.shared.leave(client, filter);
    }
  });
}
