// Queued messages per persistent session (max_queued_messages, max_queued_bytes of its
// organisation): aedes queues every QoS > 0 message for every persistent session whose stored
// subscriptions match, connected or not, without bound (one offline session once held 600 MB). A
// message past the quota is not queued for that session and counted
// (deliveries_dropped_total{reason="queue_full"}); the queue holds what it held. For a session that
// is connected the message is still sent, but not kept for redelivery: aedes' delivery updates the
// queued copy, and for QoS 2 replaces it with the PUBREL, and closes the client when there is none
// ("no such packet"), so those misses are answered here.
//
// The counts follow aedes-persistence's memory store, which adds only through
// outgoingEnqueue(Combi), replaces an entry (a message id assigned, a PUBLISH turned PUBREL) only
// through outgoingUpdate, and removes only through outgoingClearMessageId. An entry's size is
// remembered under the message until its id is known, then under the id, so a PUBREL that replaced
// it gives back what the PUBLISH took.
//
// An organisation's limits are known at once while it has a session here; for one with none (its
// sessions are all offline) they are read first, and the enqueues waiting on that read go on in
// the order they came.
import type { Aedes, Client } from 'aedes';
import type { OrgLimits } from '@signalgate/shared';
import type { BrokerMetrics } from './metrics.js';

type Queued = { cmd?: string; brokerId?: string; brokerCounter?: number; topic?: string; payload?: Buffer | string; messageId?: unknown };
type Persistence = {
  outgoingEnqueue(sub: { clientId: string }, packet: Queued): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: Queued): Promise<void>;
  outgoingUpdate(client: Client, packet: Queued): Promise<void>;
  outgoingClearMessageId(client: Client, packet: Queued): Promise<Queued | undefined>;
};

/** Sent but not queued, per connected client: at most this many remembered (the oldest forgotten). */
const SKIPPED_KEPT = 1024;

const sizeOf = (p: Queued) => Buffer.byteLength(p.topic ?? '') + (typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload?.length ?? 0);
const messageKey = (p: Queued) => `m:${p.brokerId}:${p.brokerCounter}`;
const idKey = (messageId: unknown) => `id:${String(messageId)}`;
/** aedes' client id is `<org id>/<client id>`. */
const orgOf = (clientId: string) => clientId.slice(0, Math.max(0, clientId.indexOf('/')));

interface Queue {
  count: number;
  bytes: number;
  /** Size of each queued entry, under its message (messageKey) or, once sent, its id (idKey). */
  sizes: Map<string, number>;
}

/** A bounded set: past `max` the oldest member is forgotten. */
function remember(set: Set<string>, key: string, max = SKIPPED_KEPT): void {
  set.add(key);
  if (set.size > max) set.delete(set.values().next().value!);
}

type QueueLimits = Pick<OrgLimits, 'maxQueuedMessages' | 'maxQueuedBytes'> | undefined;

/**
 * `limitsOf`: the org's limits, or a Promise of them while they are read (SessionRegistry.limitsOf;
 * it never rejects).
 */
export function installQueueQuota(aedes: Aedes, limitsOf: (orgId: string) => QueueLimits | Promise<QueueLimits>, metrics: BrokerMetrics): void {
  const broker = aedes as unknown as { persistence: Persistence; clients: Record<string, Client | undefined> };
  const persistence = broker.persistence;
  const queues = new Map<string, Queue>();
  /** Per connected client: messages (messageKey) and then their ids (idKey) sent without a queued copy. */
  const skipped = new Map<string, Set<string>>();

  /** Whether `packet` fits `clientId`'s queue; counts it when it does. A Promise while the limits are read. */
  const fits = (clientId: string, packet: Queued): boolean | Promise<boolean> => {
    const limits = limitsOf(orgOf(clientId));
    return limits instanceof Promise ? limits.then((l) => fitsWithin(clientId, packet, l)) : fitsWithin(clientId, packet, limits);
  };

  const fitsWithin = (clientId: string, packet: Queued, limits: QueueLimits): boolean => {
    const q = queues.get(clientId) ?? { count: 0, bytes: 0, sizes: new Map() };
    const size = sizeOf(packet);
    if (limits && ((limits.maxQueuedMessages !== null && q.count + 1 > limits.maxQueuedMessages) || (limits.maxQueuedBytes !== null && q.bytes + size > limits.maxQueuedBytes))) {
      metrics.deliveriesDropped.inc({ reason: 'queue_full' });
      if (broker.clients[clientId]) {
        let keys = skipped.get(clientId);
        if (!keys) skipped.set(clientId, (keys = new Set()));
        remember(keys, messageKey(packet));
      }
      return false;
    }
    q.count++;
    q.bytes += size;
    // (a second copy of one message, through another subscription, is sized again when cleared)
    if (!q.sizes.has(messageKey(packet))) q.sizes.set(messageKey(packet), size);
    queues.set(clientId, q);
    return true;
  };

  const enqueue = persistence.outgoingEnqueue.bind(persistence);
  persistence.outgoingEnqueue = async (sub, packet) => {
    const fit = fits(sub.clientId, packet);
    if (typeof fit === 'boolean' ? fit : await fit) await enqueue(sub, packet);
  };
  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    const fit = subs.map((sub) => fits(sub.clientId, packet));
    const verdicts = fit.some((f) => f instanceof Promise) ? await Promise.all(fit.map((f) => Promise.resolve(f))) : (fit as boolean[]);
    const kept = subs.filter((_, i) => verdicts[i]);
    if (kept.length > 0) await enqueueCombi(kept, packet);
  };

  const update = persistence.outgoingUpdate.bind(persistence);
  persistence.outgoingUpdate = async (client, packet) => {
    try {
      await update(client, packet);
    } catch (err) {
      // A message this quota did not queue: its delivery, and for QoS 2 its PUBREL, go ahead
      // without a queued copy, as a clean session's would.
      const keys = skipped.get(client.id);
      const key = packet.brokerId !== undefined ? messageKey(packet) : idKey(packet.messageId);
      if (!keys?.delete(key)) throw err;
      if (packet.brokerId !== undefined && packet.messageId !== undefined) remember(keys, idKey(packet.messageId));
      return;
    }
    // The entry now goes by its id (a PUBLISH given one); a PUBREL that replaced it keeps the size.
    const q = queues.get(client.id);
    if (q && packet.brokerId !== undefined && packet.messageId !== undefined) {
      const size = q.sizes.get(messageKey(packet));
      if (size !== undefined) {
        q.sizes.delete(messageKey(packet));
        q.sizes.set(idKey(packet.messageId), size);
      }
    }
  };

  const clear = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingClearMessageId = async (client, packet) => {
    const removed = await clear(client, packet);
    if (!removed) {
      skipped.get(client.id)?.delete(idKey(packet.messageId)); // the end of a QoS 2 flow sent without a queued copy
      return removed;
    }
    const q = queues.get(client.id);
    if (q) {
      // Under its id once sent; under the message when cleared before (aedesFixes.ts clears such an
      // entry by a mark it gives it, so both are tried).
      const key = [idKey(removed.messageId), messageKey(removed)].find((k) => q.sizes.has(k));
      const size = key === undefined ? sizeOf(removed) : q.sizes.get(key)!;
      if (key !== undefined) q.sizes.delete(key);
      q.count--;
      q.bytes -= size;
      if (q.count <= 0) queues.delete(client.id);
    }
    return removed;
  };
  aedes.on('clientDisconnect', (client) => skipped.delete(client.id));
}
