// Acknowledged QoS 1 messages across a Redis restart (issue 16). Messages cross nodes by Redis
// pub/sub, which keeps nothing: a message published while this node's subscriber connection was
// down (or before it had subscribed again) reaches no one here, though its publisher got PUBACK
// (aedes acknowledges before publishing). aedes also queued it, in Redis, for every persistent
// session it matches, but reads that queue only at CONNECT, so a subscriber that stayed connected
// would get it only at its next reconnect (measured: 3 of 4 restarts lost messages live;
// tests/cluster/redis-restart-acked.test.ts). So once this node's subscriber connection is back and
// subscribed (a PING behind ioredis' re-subscriptions), each connected persistent session here is
// sent, from its queue, the QoS 1 messages published since the connection dropped (origin counter
// above what the session had been given from that origin when it dropped).
// Sent untracked: the PUBACK for such a copy clears nothing, so the queue entry, and the count of
// sessions still owed the stored message, stay as aedes left them (a second acknowledgement of one
// entry would release the stored message for other sessions too); the next CONNECT of the session
// sends it once more (a duplicate QoS 1 allows). QoS 2 messages wait for that CONNECT: an
// untracked copy cannot finish their exchange. A message that arrives live during the replay can
// be delivered twice.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import type { Aedes, AedesPublishPacket, Client } from 'aedes';

type Session = Client & { clean: boolean; closed: boolean; duplicates: Record<string, number | undefined> };
type Stored = AedesPublishPacket & { brokerId: string; brokerCounter: number; messageId?: number; messageExpiry?: number; properties?: Record<string, unknown> };
type Broker = {
  clients: Record<string, Session>;
  persistence: { outgoingStream(client: { id: string }): AsyncIterable<Stored> };
  authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null;
};
type Internals = {
  QoSPacket: new (packet: Stored, client: Client) => AedesPublishPacket & { writeCallback: (err?: Error | null) => void };
  write: (client: Client, packet: AedesPublishPacket, done: (err?: Error | null) => void) => void;
};

/** aedes exports only its entry point: its packet class and writer are loaded by path (aedes is pinned). */
async function aedesInternals(): Promise<Internals> {
  const lib = path.join(path.dirname(createRequire(import.meta.url).resolve('aedes')), 'lib');
  const load = async (file: string) => ((await import(pathToFileURL(path.join(lib, file)).href)) as { default: unknown }).default;
  return { QoSPacket: (await load('qos-packet.js')) as Internals['QoSPacket'], write: (await load('write.js')) as Internals['write'] };
}

export async function replayAfterResubscribe(aedes: Aedes, sub: Redis, onError: (err: unknown) => void): Promise<void> {
  const internals = await aedesInternals();
  const broker = aedes as unknown as Broker;
  /** From the drop: what each connected persistent session had been given, per origin. */
  let given: Map<Session, Record<string, number | undefined>> | null = null;

  sub.on('close', () => {
    if (given) return;
    given = new Map();
    for (const client of Object.values(broker.clients)) if (!client.clean) given.set(client, { ...client.duplicates });
  });
  sub.on('ready', () => {
    const sessions = given;
    if (!sessions) return;
    given = null;
    // ioredis re-subscribes right after 'ready': the PING's answer comes after theirs.
    setImmediate(() => {
      sub.ping()
        .then(async () => {
          for (const [client, before] of sessions) if (!client.closed) await replay(broker, internals, client, before);
        })
        .catch(onError);
    });
  });
}

async function replay(broker: Broker, { QoSPacket, write }: Internals, client: Session, before: Record<string, number | undefined>): Promise<void> {
  for await (const stored of broker.persistence.outgoingStream(client)) {
    if (client.closed) return;
    if (stored.qos !== 1 || stored.brokerCounter <= (before[stored.brokerId] ?? 0)) continue;
    const now = Date.now();
    if (stored.messageExpiry !== undefined && stored.messageExpiry <= now) continue;
    const { messageId: _sharedId, ...message } = stored; // the stored packet's id is another session's
    // MQTT 5 Message Expiry Interval: what is left of it [MQTT-3.3.2-6], as aedes does at CONNECT.
    if (message.messageExpiry !== undefined) {
      message.properties = { ...message.properties, messageExpiryInterval: Math.ceil((message.messageExpiry - now) / 1000) };
    }
    const packet = new QoSPacket(message as Stored, client);
    if (!broker.authorizeForward(client, packet)) continue;
    await new Promise<void>((resolve) => write(client, packet, () => resolve()));
  }
}
