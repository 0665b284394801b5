// Corrections to packets aedes writes, where aedes has no option for what SignalGate must say:
// - CONNACK: aedes writes `sharedSubscriptionAvailable: false` into every MQTT 5 CONNACK
//   (lib/handlers/connect.js connackProperties); SignalGate serves shared subscriptions.
// - SUBACK: aedes answers every refused filter with 0x87 (MQTT 5) from authorizeSubscribe's null;
//   a filter refused for a quota must say 0x97 (Quota exceeded).
// aedes writes through mqtt-packet's writeToStream, looked up on the module at each call, so the
// packet is corrected on its way out, for the connections of a SignalGate broker only (a bare aedes
// in the same process keeps its own answers).
import mqttPacket from 'mqtt-packet';
import type { Client } from 'aedes';

type OutPacket = { cmd: string; messageId?: number; granted?: number[]; properties?: Record<string, unknown> };
type Write = ((packet: OutPacket, stream: object, opts?: object) => boolean) & { cacheNumbers?: boolean };

/** Streams (client.conn) of SignalGate connections, with the SUBACK codes to put in per message id. */
const corrections = new WeakMap<object, Map<number, Map<number, number>>>();
let installed = false;

/** Marks `client` as a SignalGate connection (before its CONNACK is written). */
export function correctPacketsOf(client: Client): void {
  install();
  if (!corrections.has(client.conn)) corrections.set(client.conn, new Map());
}

/** The SUBACK answering SUBSCRIBE `messageId` carries `code` at `position` (when aedes refused that filter). */
export function subackCode(client: Client, messageId: number, position: number, code: number): void {
  const byMessage = corrections.get(client.conn);
  if (!byMessage) return;
  let codes = byMessage.get(messageId);
  if (!codes) byMessage.set(messageId, (codes = new Map()));
  codes.set(position, code);
}

function install(): void {
  if (installed) return;
  installed = true;
  const packets = mqttPacket as unknown as { writeToStream: Write };
  const write = packets.writeToStream;
  const corrected: Write = (packet, stream, opts) => {
    const ours = corrections.get(stream);
    if (ours) {
      if (packet.cmd === 'connack' && packet.properties?.sharedSubscriptionAvailable === false) packet.properties.sharedSubscriptionAvailable = true;
      else if (packet.cmd === 'suback' && packet.messageId !== undefined && ours.size > 0) {
        const codes = ours.get(packet.messageId);
        if (codes) {
          ours.delete(packet.messageId);
          for (const [i, code] of codes) if (packet.granted && (packet.granted[i] ?? 0) >= 0x80) packet.granted[i] = code;
        }
      }
    }
    return write(packet, stream, opts);
  };
  // mqtt.js sets this switch on the function it finds (writeCache: false); it must reach mqtt-packet's.
  Object.defineProperty(corrected, 'cacheNumbers', { get: () => write.cacheNumbers, set: (on: boolean) => (write.cacheNumbers = on) });
  packets.writeToStream = corrected;
}
