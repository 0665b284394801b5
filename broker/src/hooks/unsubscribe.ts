// UNSUBSCRIBE: aedes has no hook for it, and it looks the filters up in client.subscriptions,
// which holds internal (org-prefixed) filters. So the filters of each UNSUBSCRIBE packet are moved
// into the org's namespace as the parser emits it, before aedes handles it (packetHooks.ts).
import type { Client } from 'aedes';
import { internalTopic, REFUSED_FILTER } from '@signalgate/shared';
import type { BrokerContext } from '../context.js';
import { grantedFilters, heldFilters } from '../grantedQos.js';
import type { ClientSession } from '../sessions.js';
import { tooManyFilters } from './subscribe.js';

export interface UnsubscribePacket {
  cmd: 'unsubscribe';
  unsubscriptions?: string[];
}

export function rewriteUnsubscribe(ctx: BrokerContext, client: Client, packet: UnsubscribePacket, s: ClientSession): void {
  if (tooManyFilters(ctx, client, packet.unsubscriptions?.length ?? 0)) {
    // One filter that names nothing: aedes fails on an empty list, closing the socket before the
    // DISCONNECT is out.
    packet.unsubscriptions = [`${REFUSED_FILTER}/0`];
    return;
  }
  packet.unsubscriptions = (packet.unsubscriptions ?? []).map((f) => internalTopic(s.orgId, f));
  const granted = grantedFilters(client);
  const holding = heldFilters(client);
  for (const filter of packet.unsubscriptions) {
    granted.removed(filter);
    holding.delete(filter);
    ctx.shared.leave(client, filter);
  }
}
