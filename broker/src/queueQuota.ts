// Queued messages per persistent session (max_queued_messages, max_queued_bytes of its
// organisation): aedes queues every QoS > 0 message for every persistent session whose stored
// subscriptions match, connected or not, without bound (one offline session once held 600 MB). A
// message past the quota is not queued for that session and counted
// (deliveries_dropped_total{reason="queue_full"}); the queue holds what it held. For a session that
// is connected the message is still sent, but not kept for redelivery: aedes' delivery updates the
// queued copy and closes the client when there is none ("no such packet"), so that one miss is
// answered here. The counts follow aedes-persistence's memory store, which adds only through
// outgoingEnqueue(Combi) and removes only through outgoingClearMessageId.
import type { Aedes, Client } from 'aedes';
import type { OrgLimits } from '@signalgate/shared';
import type { BrokerMetrics } from './metrics.js';

type Queued = { brokerId?: string; brokerCounter?: number; topic?: string; payload?: Buffer | string; messageId?: unknown };
type Persistence = {
  outgoingEnqueue(sub: { clientId: string }, packet: Queued): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: Queued): Promise<void>;
  outgoingUpdate(client: Client, packet: Queued): Promise<void>;
  outgoingClearMessageId(client: Client, packet: Queued): Promise<Queued | undefined>;
};

/** Sent but not queued, per connected client: at most this many remembered (the oldest forgotten). */
const SKIPPED_KEPT = 1024;

const sizeOf = (p: Queued) => Buffer.byteLength(p.topic ?? '') + (typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload?.length ?? 0);
const keyOf = (p: Queued) => `${p.brokerId}:${p.brokerCounter}`;
/** aedes' client id is `<org id>/<client id>`. */
const orgOf = (clientId: string) => clientId.slice(0, Math.max(0, clientId.indexOf('/')));

export function installQueueQuota(aedes: Aedes, limitsOf: (orgId: string) => Pick<OrgLimits, 'maxQueuedMessages' | 'maxQueuedBytes'> | undefined, metrics: BrokerMetrics): void {
  const broker = aedes as unknown as { persistence: Persistence; clients: Record<string, Client | undefined> };
  const persistence = broker.persistence;
  const queues = new Map<string, { count: number; bytes: number }>();
  const skipped = new Map<string, Set<string>>();

  /** Whether `packet` fits `clientId`'s queue; counts it when it does. */
  const fits = (clientId: string, packet: Queued): boolean => {
    const limits = limitsOf(orgOf(clientId));
    const q = queues.get(clientId) ?? { count: 0, bytes: 0 };
    const size = sizeOf(packet);
    if (limits && ((limits.maxQueuedMessages !== null && q.count + 1 > limits.maxQueuedMessages) || (limits.maxQueuedBytes !== null && q.bytes + size > limits.maxQueuedBytes))) {
      metrics.deliveriesDropped.inc({ reason: 'queue_full' });
      if (broker.clients[clientId]) {
        let keys = skipped.get(clientId);
        if (!keys) skipped.set(clientId, (keys = new Set()));
        keys.add(keyOf(packet));
        if (keys.size > SKIPPED_KEPT) keys.delete(keys.values().next().value!);
      }
      return false;
    }
    q.count++;
    q.bytes += size;
    queues.set(clientId, q);
    return true;
  };

  const enqueue = persistence.outgoingEnqueue.bind(persistence);
  persistence.outgoingEnqueue = async (sub, packet) => {
    if (fits(sub.clientId, packet)) await enqueue(sub, packet);
  };
  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    const kept = subs.filter((sub) => fits(sub.clientId, packet));
    if (kept.length > 0) await enqueueCombi(kept, packet);
  };
  const update = persistence.outgoingUpdate.bind(persistence);
  persistence.outgoingUpdate = async (client, packet) => {
    try {
      await update(client, packet);
    } catch (err) {
      // The one message this quota did not queue: send it anyway, as a clean session would get it.
      if (!skipped.get(client.id)?.delete(keyOf(packet))) throw err;
    }
  };
  const clear = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingClearMessageId = async (client, packet) => {
    const removed = await clear(client, packet);
    const q = removed ? queues.get(client.id) : undefined;
    if (removed && q) {
      q.count--;
      q.bytes -= sizeOf(removed);
      if (q.count <= 0) queues.delete(client.id);
    }
    return removed;
  };
  aedes.on('clientDisconnect', (client) => skipped.delete(client.id));
}
