// Delivery to a subscriber: only messages of the subscriber's own organisation, with the
// client-visible topic. Subscriptions already live inside the org's namespace, so the null branch
// is defence in depth. The packet is shared by every subscriber: return a copy, never mutate it.
import type { AedesPublishPacket, Client } from 'aedes';
import { clientTopic } from '@signalgate/shared';
import type { BrokerContext } from '../context.js';
import type { AedesClient } from '../sessions.js';

export function createAuthorizeForward(ctx: BrokerContext) {
  const { sessions } = ctx;

  return function authorizeForward(aedesClient: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const client = aedesClient as AedesClient;
    const s = sessions.get(client);
    if (!s) return null;
    const topic = clientTopic(s.orgId, packet.topic);
    if (topic === null) return null;
    const copy = { ...packet, topic } as AedesPublishPacket;
    // aedes downgrades to the subscription's QoS by looking the topic up in client.subscriptions,
    // which holds internal filters: do that lookup here, with the internal topic.
    const sub = client.subscriptions[packet.topic];
    if (sub && sub.qos < copy.qos) copy.qos = sub.qos as 0 | 1 | 2;
    return copy;
  };
}
