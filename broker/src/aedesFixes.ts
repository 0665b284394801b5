// Three fixes aedes 1.2 has and 2.0.0-beta.1 (the only aedes with MQTT 5) lacks, applied from
// SignalGate's side so the pinned beta can stay unmodified:
//
// - GHSA-52qw-whmv-87c5: the broker's and each client's maps are plain objects, so a client id or
//   filter such as `__proto__` or `constructor` finds Object.prototype's members (a takeover calls
//   `.disconnect` on them and throws). They become prototype-less, as in 1.2.
// - GHSA-p8r9-qf8w-p73r: the inbound QoS 2 state (message ids awaiting PUBREL) of aedes-persistence
//   10's memory store is never removed, so a clean client that leaves a QoS 2 flow open leaks it, and
//   the same id connecting again clean finds a "duplicate" and its new message is lost. The state is
//   held here instead, and dropped when a session that does not outlive its connection ends, at a
//   clean start, and when an MQTT 5 session expires or is not kept [MQTT-3.1.2-4, MQTT-3.1.2-6].
// - GHSA-5jvp-3p2v-5qgf: no bound on inbound QoS 2 messages awaiting PUBREL (1.2's
//   maxInflightInbound). Past SIGNALGATE_RECEIVE_MAXIMUM the client is disconnected (MQTT 5:
//   DISCONNECT 0x93, Receive Maximum exceeded [MQTT-3.3.4-9]).
// - A persistent session that gets one message through two subscriptions (overlapping filters, a
//   shared group beside a plain filter) has it queued twice; aedes sends it once (lib/client.js
//   dedupe) and clears "the" other copy with outgoingClearMessageId of a packet that has no message
//   id yet, which aedes-persistence 10 matches against the first queued entry without an id: another
//   message's. That message's delivery then fails ("no such packet"), the connection is closed, and
//   messages are lost or doubled. A clear without a message id removes the entry of the same
//   message (brokerId and brokerCounter) instead.
// - A connection whose close finishes after a newer connection of the same id registered (a
//   DISCONNECT and the device's new CONNECT in one read: aedes' close does its last step after an
//   asynchronous unsubscribe) unregisters *by id* (lib/client.js close → unregisterClient →
//   deleteClient) and schedules the id's session expiry: the live newer connection leaves the
//   clients map (where its session's owner is read, sessionOwners.ts; measured: another user of the
//   org then got CONNACK 0 on that id in 20 of 40 rounds), and an MQTT 5 session it holds is wiped
//   when the old one's expiry runs out. A stale close now only gives back its count.
//
// The held state is the message id alone: aedes only asks whether an id is held (handlers/publish.js
// for a duplicate PUBLISH, handlers/pubrel.js for PUBREL), so no payload is kept. A delete never
// rejects: the beta's pubrelDelete chains it with `.finally()`, and a rejection there (two PUBRELs
// of one id in one read) would be unhandled and end the process.
import type { Aedes, Client } from 'aedes';
import { SESSION_ENDS } from '@signalgate/shared';
import { sendPacket } from './wire.js';

type Queued = { messageId?: unknown; brokerId?: string; brokerCounter?: number };
type Persistence = {
  incomingStorePacket(client: Client, packet: { messageId?: number }): Promise<void>;
  incomingGetPacket(client: Client, packet: { messageId?: number }): Promise<{ messageId: number }>;
  incomingDelPacket(client: Client, packet: { messageId?: number }): Promise<void>;
  outgoingStream(client: Client): AsyncIterable<Queued>;
  outgoingClearMessageId(client: Client, packet: Queued): Promise<Queued | undefined>;
};
type Internals = {
  clients: Record<string, Client | undefined>;
  brokers: object;
  persistence: Persistence;
  connectedClients: number;
  unregisterClient(client: Client): void;
  scheduleSessionExpiry(client: Client): void;
};
type ClientInternals = { subscriptions: object; duplicates: object; _cleanStart?: boolean };

export class ReceiveMaximumExceeded extends Error {}

export function installAedesFixes(aedes: Aedes, receiveMaximum: number): void {
  const broker = aedes as unknown as Internals;
  broker.clients = Object.assign(Object.create(null), broker.clients);
  broker.brokers = Object.assign(Object.create(null), broker.brokers);

  const awaitingRelease = new Map<string, Set<number>>();
  const persistence = broker.persistence;
  persistence.incomingStorePacket = async (client, packet) => {
    const id = packet.messageId!;
    let ids = awaitingRelease.get(client.id);
    if (ids?.has(id)) return;
    if (ids && ids.size >= receiveMaximum) {
      // The error ends the connection (aedes closes on a failed enqueue); an MQTT 5 client is told why
      // first, in one uncorked write that is on the socket before aedes destroys it.
      if (client.version === 5) sendPacket(client, { cmd: 'disconnect', reasonCode: SESSION_ENDS.too_many_unacknowledged });
      throw new ReceiveMaximumExceeded(`more than ${receiveMaximum} QoS 2 messages awaiting PUBREL`);
    }
    if (!ids) awaitingRelease.set(client.id, (ids = new Set()));
    ids.add(id);
  };
  persistence.incomingGetPacket = async (client, packet) => {
    if (awaitingRelease.get(client.id)?.has(packet.messageId!)) return { messageId: packet.messageId! };
    throw new Error('no such packet');
  };
  persistence.incomingDelPacket = async (client, packet) => {
    const ids = awaitingRelease.get(client.id);
    if (!ids) return;
    ids.delete(packet.messageId!);
    if (ids.size === 0) awaitingRelease.delete(client.id);
  };

  const clearById = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingClearMessageId = async (client, packet) => {
    if (packet.messageId !== undefined) return clearById(client, packet);
    // The memory store streams its own entries (a shallow copy of the queue), so the one entry of
    // this message is marked with an id nothing else has and cleared by that id.
    for await (const queued of persistence.outgoingStream(client)) {
      if (queued.messageId === undefined && queued.brokerId === packet.brokerId && queued.brokerCounter === packet.brokerCounter) {
        queued.messageId = Symbol('clearing');
        return clearById(client, queued);
      }
    }
    return undefined;
  };

  const unregister = broker.unregisterClient.bind(aedes);
  broker.unregisterClient = (client) => {
    if (broker.clients[client.id] === client) return unregister(client);
    broker.connectedClients--; // it was counted at its registration; the id's entry is the newer one's
  };
  const scheduleSessionExpiry = broker.scheduleSessionExpiry.bind(aedes);
  broker.scheduleSessionExpiry = (client) => {
    const holder = broker.clients[client.id];
    if (holder === undefined || holder === client) scheduleSessionExpiry(client);
  };

  const forget = (client: Client) => awaitingRelease.delete(client.id);
  // A clean start discards the previous session's state; this runs after a takeover closed the old client.
  aedes.on('client', (client) => {
    if ((client as unknown as ClientInternals)._cleanStart) forget(client);
  });
  aedes.on('clientDisconnect', (client) => {
    if (client.clean) forget(client);
  });
  aedes.on('sessionExpired', forget);
  // a session aedes did not keep (SIGNALGATE_MAX_STORED_SESSIONS) ends like a clean one
  (aedes as unknown as { on(e: 'sessionLimitReached', fn: (c: Client) => void): void }).on('sessionLimitReached', forget);
}

/**
 * A map with no prototype members (`__proto__`, `constructor` are plain keys) that V8 still keeps in
 * fast mode: `Object.create(null)` objects start as dictionaries, ~250 bytes more per connection.
 */
const Dict = function Dict() {} as unknown as new () => object;
(Dict as unknown as { prototype: object }).prototype = Object.freeze(Object.create(null));

/** Per connection, before any packet is parsed. */
export function hardenClient(client: Client): void {
  const c = client as unknown as ClientInternals;
  c.subscriptions = new Dict();
  c.duplicates = new Dict();
}
