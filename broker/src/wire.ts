// Packets SignalGate writes itself, where aedes has no way to carry our reason code: a v5 CONNACK
// refusal (aedes maps only 3.1.1 codes 2-5), PUBACK/PUBREC for a refused publish (aedes only knows
// 0x87, and 3.1.1 only a plain ack). Serialised at the connection's own protocol level, as aedes'
// lib/write.js does, on the same stream, so ordering with aedes' own writes is kept.
import mqttPacket from 'mqtt-packet';
import type { Client } from 'aedes';

type WirePacket = Parameters<typeof mqttPacket.generate>[0];

export function sendPacket(client: Client, packet: WirePacket, protocolVersion = client.version): void {
  if (client.closed) return;
  try {
    client.conn.write(mqttPacket.generate(packet, { protocolVersion: protocolVersion === 5 ? 5 : protocolVersion === 3 ? 3 : 4 }));
  } catch {
    // The stream was destroyed between the check and the write: the connection is gone anyway.
  }
}

/**
 * Refuses a CONNECT with an MQTT 5 CONNACK carrying `reasonCode`, then closes the client on the
 * next turn, once the CONNACK is on the socket, as aedes does after its own refusals.
 */
export function refuseConnect(client: Client, reasonCode: number, properties?: { reasonString: string }, onClosed?: () => void): void {
  sendPacket(client, { cmd: 'connack', sessionPresent: false, reasonCode, ...(properties ? { properties } : {}) }, 5);
  setImmediate(() => client.close(onClosed));
}
