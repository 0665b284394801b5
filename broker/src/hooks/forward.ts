// Delivery to a subscriber: only messages of the subscriber's own organisation that its rights
// still allow, with the client-visible topic, at no more than the QoS its matching subscriptions were granted
// (grantedQos.ts), and never larger
// than the Maximum Packet Size an MQTT 5 client announced. Subscriptions already live inside the
// org's namespace, so the null branch for a foreign topic is defence in depth.
//
// The topic is rewritten on the packet aedes hands us, and that packet is returned. That object is
// never the one shared between subscribers: aedes makes a copy per delivery before calling this
// hook — per subscriber in lib/handlers/subscribe.js (handlePacketSubscription: `new Packet(_packet)`),
// per retained message (sendRetained: `new Packet({...})`) and per queued message of a resumed
// session (lib/handlers/connect.js clearQueue: `new QoSPacket(data)`). The last call site ignores
// the returned object and writes the one it passed (emptyQueueFilter), so a returned copy would
// leak the internal topic there: rewriting in place is what keeps the prefix invisible on resume.
import mqttPacket from 'mqtt-packet';
import type { AedesPublishPacket, Client } from 'aedes';
import { clientTopic } from '@signalgate/shared';
import type { BrokerContext } from '../context.js';
import type { AedesClient } from '../sessions.js';
import { grantedQos } from '../grantedQos.js';

/** The packet's size on the wire at MQTT 5 (the message id aedes assigns later counts as 2 bytes). */
function wireSize(packet: AedesPublishPacket): number {
  try {
    return mqttPacket.generate(packet.qos > 0 ? { ...packet, messageId: 1 } : packet, { protocolVersion: 5 }).length;
  } catch {
    return Infinity; // a packet mqtt-packet cannot serialise cannot be sent either
  }
}

export function createAuthorizeForward(ctx: BrokerContext) {
  const { sessions, metrics } = ctx;

  return function authorizeForward(aedesClient: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const client = aedesClient as AedesClient;
    const s = sessions.get(client);
    if (!s) return null;
    const internal = packet.topic;
    const topic = clientTopic(s.orgId, internal);
    if (topic === null) return null;
    // Rights as they are now: a subscription granted under earlier rights, or a message queued for
    // a persistent session before a rule change, delivers nothing the client may no longer have.
    if (!s.rights.canReceive(topic)) {
      metrics.deliveriesDropped.inc({ reason: 'not_authorized' });
      return null;
    }
    packet.topic = topic;
    if (packet.qos > 0) packet.qos = grantedQos(client, internal, packet.qos) as 0 | 1 | 2;
    // [MQTT-3.1.2-24]: a packet over the client's Maximum Packet Size is not sent, as if delivered.
    const max = client.maximumPacketSize;
    if (max !== undefined && wireSize(packet) > max) {
      metrics.deliveriesDropped.inc({ reason: 'client_maximum_packet_size' });
      return null;
    }
    return packet;
  };
}
