// Delivery to a subscriber: only messages of the subscriber's own organisation, with the
// client-visible topic. Subscriptions already live inside the org's namespace, so the null branch
// is defence in depth.
//
// The topic is rewritten on the packet aedes hands us, and that packet is returned. That object is
// never the one shared between subscribers: aedes makes a copy per delivery before calling this
// hook — per subscriber in lib/handlers/subscribe.js (handlePacketSubscription: `new Packet(_packet)`),
// per retained message (sendRetained: `new Packet({...})`) and per queued message of a resumed
// session (lib/handlers/connect.js clearQueue: `new QoSPacket(data)`). The last call site ignores
// the returned object and writes the one it passed (emptyQueueFilter), so a returned copy would
// leak the internal topic there: rewriting in place is what keeps the prefix invisible on resume.
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
    const internal = packet.topic;
    const topic = clientTopic(s.orgId, internal);
    if (topic === null) return null;
    packet.topic = topic;
    // aedes downgrades to the subscription's QoS by looking the topic up in client.subscriptions,
    // which holds internal filters: do that lookup here, with the internal topic.
    const sub = client.subscriptions[internal];
    if (sub && sub.qos < packet.qos) packet.qos = sub.qos as 0 | 1 | 2;
    return packet;
  };
}
