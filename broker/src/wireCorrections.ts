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

interface SubackFix {
  /** For each filter as sent, the index of its code in aedes' SUBACK (aedes merges identical filters). */
  layout?: number[];
  /** Codes to put at positions as sent. */
  codes?: Map<number, number>;
}

/** Streams (client.conn) of SignalGate connections. */
const ours = new WeakSet<object>();
/** Their SUBACK fixes per message id, made only when a SUBSCRIBE needs one. */
const corrections = new WeakMap<object, Map<number, SubackFix>>();
let installed = false;

/** Marks `client` as a SignalGate connection (before its CONNACK is written). */
export function correctPacketsOf(client: Client): void {
  install();
  ours.add(client.conn);
}

function fixOf(client: Client, messageId: number): SubackFix | undefined {
  if (!ours.has(client.conn)) return undefined;
  let byMessage = corrections.get(client.conn);
  if (!byMessage) corrections.set(client.conn, (byMessage = new Map()));
  let fix = byMessage.get(messageId);
  if (!fix) byMessage.set(messageId, (fix = {}));
  return fix;
}

/** The SUBACK answering SUBSCRIBE `messageId` carries `code` at `position` (when aedes refused that filter). */
export function subackCode(client: Client, messageId: number, position: number, code: number): void {
  const fix = fixOf(client, messageId);
  if (fix) (fix.codes ??= new Map()).set(position, code);
}

/**
 * SUBSCRIBE `messageId` named a filter twice (as `topics`, in aedes' internal form): aedes answers
 * once per distinct filter, but a SUBACK has a code for every filter sent [MQTT-3.8.4-5].
 */
export function subackLayout(client: Client, messageId: number, topics: readonly string[]): void {
  const first = new Map<string, number>();
  for (const t of topics) if (!first.has(t)) first.set(t, first.size);
  if (first.size === topics.length) return;
  const fix = fixOf(client, messageId);
  if (fix) fix.layout = topics.map((t) => first.get(t)!);
}

function install(): void {
  if (installed) return;
  installed = true;
  const packets = mqttPacket as unknown as { writeToStream: Write };
  const write = packets.writeToStream;
  const corrected: Write = (packet, stream, opts) => {
    if (ours.has(stream)) {
      if (packet.cmd === 'connack' && packet.properties?.sharedSubscriptionAvailable === false) packet.properties.sharedSubscriptionAvailable = true;
      else if (packet.cmd === 'suback' && packet.messageId !== undefined) {
        const fixes = corrections.get(stream);
        const fix = fixes?.get(packet.messageId);
        if (fix && packet.granted) {
          fixes!.delete(packet.messageId);
          const answered = packet.granted;
          if (fix.layout) packet.granted = fix.layout.map((j) => answered[j] ?? 0x80);
          for (const [i, code] of fix.codes ?? []) if ((packet.granted[i] ?? 0) >= 0x80) packet.granted[i] = code;
        }
      }
    }
    return write(packet, stream, opts);
  };
  // mqtt.js sets this switch on the function it finds (writeCache: false); it must reach mqtt-packet's.
  Object.defineProperty(corrected, 'cacheNumbers', { get: () => write.cacheNumbers, set: (on: boolean) => (write.cacheNumbers = on) });
  packets.writeToStream = corrected;
}
