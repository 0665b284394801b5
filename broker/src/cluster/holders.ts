// Which connection holds each client id, cluster-wide (issue 16). aedes takes a session over across
// nodes by broadcast: the node a CONNECT arrives at announces the id on `$SYS/<node>/new/clients`
// and every other node closes its own client of that id. Two CONNECTs with one id at the same
// instant on two nodes each close the other (measured: 0 connections left in most of 20 trials).
// Here every admitted CONNECT first writes itself as the id's holder in Redis (last writer wins,
// as MQTT's takeover does, among connections of the id's user), and a node receiving the
// announcement closes its client only if that client is no longer the holder. Exactly one
// connection stays: the one whose write came last. Another user's CONNECT cannot take the id.
import type { Redis } from 'ioredis';
import type { Aedes, Client } from 'aedes';
import { DELAYED_WILL_PACKETS, DELAYED_WILLS, EXPIRING, holderKey as keyOf, nodeSessionsKey } from './keys.js';

/**
 * A holder record lives as long as its connection (refreshed hourly to LIVE_TTL_SECONDS, so the
 * records of a node that died expire too), then HOLDER_TTL_SECONDS more: its stored session's owner
 * is still known for a reconnect.
 */
const HOLDER_TTL_SECONDS = 86_400;
const LIVE_TTL_SECONDS = 2 * 86_400;
const REFRESH_MS = 3600_000;
const SESSION_TAKEN_OVER = 0x8e;
const ANNOUNCEMENT = '$SYS/+/new/clients';

type MqListener = (packet: { topic: string; payload: Buffer | string }, done: () => void) => void;
type Mq = { on(topic: string, fn: MqListener, done?: () => void): unknown };

export class ClusterHolders {
  private readonly tokens = new WeakMap<Client, string>();
  private counter = 0;
  private localClient: (clientId: string) => Client | undefined = () => undefined;
  private aedes: TimedBroker | null = null;

  constructor(private readonly db: Redis, private readonly nodeId: string, private readonly onError: (err: unknown, what: string) => void) {}

  /**
   * Puts the gate in front of aedes' takeover listener. Called on the message bus before aedes is
   * built (its constructor registers the listener); `localClient` is attached once it exists.
   */
  guard(mq: Mq): void {
    const on = mq.on.bind(mq);
    mq.on = (topic, fn, done) => on(topic, topic === ANNOUNCEMENT ? this.gated(fn) : fn, done);
  }

  /**
   * Once aedes exists. An announcement from another node can arrive while a CONNECT here is still
   * between its holder write and its registration (nothing local to close yet): each newly
   * registered client checks it still holds its id, and steps down if a later CONNECT does.
   */
  attach(aedes: Aedes): void {
    this.aedes = aedes as unknown as TimedBroker;
    // Read at each use: installAedesFixes replaces aedes' clients map with a prototype-less one.
    this.localClient = (clientId) => (aedes as unknown as { clients: Record<string, Client | undefined> }).clients[clientId];
    const refresh = setInterval(() => {
      const clients = Object.values((aedes as unknown as { clients: Record<string, Client> }).clients);
      const p = this.db.pipeline();
      for (const c of clients) {
        const token = this.tokens.get(c);
        if (token !== undefined) p.eval(EXPIRE_IF_MINE, 1, keyOf(c.id), token, LIVE_TTL_SECONDS);
      }
      p.exec().catch((err) => this.onError(err, 'holder records refresh'));
    }, REFRESH_MS);
    refresh.unref();
    aedes.on('closed', () => clearInterval(refresh));
    aedes.on('client', (client) => {
      const token = this.tokens.get(client);
      if (token === undefined) return;
      this.db.get(keyOf(client.id)).then((holder) => {
        if (holder !== null && holder !== token) takenOver(client as LocalClient, () => {});
      }, (err) => this.onError(err, 'holder check after registration (a later CONNECT elsewhere may keep this id twice)'));
    });
  }

  /**
   * `client` (aedes id `clientId`, admitted for `userRef`) takes the id: resolves true once Redis
   * has it, false (and nothing written) when another user's connection holds it. One script, so
   * two users racing for one id cannot both pass the check: session ownership (issue 14) across
   * nodes, for the holder record's lifetime. The same script cancels what waits on the id's
   * absence anywhere: its stored session's expiry and a dead node's delayed will [MQTT-3.1.3-9],
   * and lists the session under this node if it outlives the connection (sessionExpiry.ts).
   */
  async claim(client: Client, clientId: string, userRef: string): Promise<boolean> {
    const token = `${this.nodeId}:${++this.counter}|${userRef}`;
    const taken = await this.db.eval(
      CLAIM, 5, keyOf(clientId), EXPIRING, DELAYED_WILLS, DELAYED_WILL_PACKETS, nodeSessionsKey(this.nodeId),
      token, `|${userRef}`, LIVE_TTL_SECONDS, clientId, expiringAfter(client),
    );
    if (taken !== 1) return false;
    this.tokens.set(client, token);
    // Closed while Redis answered: its close came before the claim was recorded, so release it now
    // (its session's deadline and record as for any close).
    if ((client as LocalClient).closed) this.released(client);
    return true;
  }

  /**
   * `client` closed: its record, if still its own, expires HOLDER_TTL_SECONDS from now, and its
   * stored session (MQTT 5, expiry > 0) starts expiring in Redis, where any node wipes it when due
   * even if this one is gone by then. A connection taken over holds nothing any more: no change.
   */
  released(client: Client): void {
    const token = this.tokens.get(client);
    if (token === undefined) return;
    this.tokens.delete(client);
    this.db.eval(RELEASE, 3, keyOf(client.id), EXPIRING, nodeSessionsKey(this.nodeId), token, HOLDER_TTL_SECONDS, client.id, expiringAfter(client), Date.now())
      .catch((err) => this.onError(err, 'holder release (the stored session gets no cluster deadline)'));
  }

  /**
   * The session `clientId` left here resumed on another node: this node's timers for it (session
   * expiry, a delayed will) would wipe the session there or publish a cancelled will, and its will
   * in Redis would be published by whoever finds this node dead later.
   */
  private resumedElsewhere(clientId: string): void {
    const aedes = this.aedes;
    if (!aedes) return;
    aedes.clearSessionExpiry(clientId);
    // Only a will waiting for its delay is still stored once its connection closed (deleting one
    // that is not there would still cost Redis a scan of every node's will list, per CONNECT).
    if (aedes.delayedWills.has(clientId)) {
      aedes.clearDelayedWill(clientId);
      aedes.persistence.delWill({ id: clientId, brokerId: this.nodeId }).catch((err) => this.onError(err, 'delayed will removal'));
    }
  }

  /**
   * aedes' listener closes the local client without a word; a client taken over from another node
   * is told, as on one node, with DISCONNECT 0x8E (Session taken over) [MQTT-3.1.4-3].
   */
  private gated(takeOver: MqListener): MqListener {
    return (packet, done) => {
      const [, node] = packet.topic.split('/');
      const clientId = packet.payload.toString();
      const local = this.localClient(clientId) as LocalClient | undefined;
      if (node !== this.nodeId && (!local || local.closed)) this.resumedElsewhere(clientId);
      if (!local || local.closed || node === this.nodeId) return takeOver(packet, done);
      const tellAndClose = () => {
        // Its release will not remove the session's listing under this node (the holder record is
        // the new connection's now): a dead-node move would skip it anyway, but it would stay.
        this.db.hdel(nodeSessionsKey(this.nodeId), clientId).catch((err) => this.onError(err, 'session listing removal'));
        takenOver(local, done);
      };
      this.db.get(keyOf(clientId)).then(
        (holder) => (holder !== null && holder === this.tokens.get(local) ? done() : tellAndClose()),
        tellAndClose, // Redis unreachable: aedes' own rule (the announcement wins)
      );
    };
  }
}


/**
 * KEYS: holder, EXPIRING, DELAYED_WILLS, DELAYED_WILL_PACKETS, this node's sessions; ARGV: new
 * value, the claimer's `|userRef` suffix, TTL, client id, seconds the session outlives the
 * connection (0: it does not). Another user's holder stays (0).
 */
const CLAIM = `local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, -string.len(ARGV[2])) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[4])
if redis.call('ZREM', KEYS[3], ARGV[4]) == 1 then redis.call('HDEL', KEYS[4], ARGV[4]) end
if tonumber(ARGV[5]) > 0 then redis.call('HSET', KEYS[5], ARGV[4], ARGV[5]) end
return 1`;
/** KEYS[1] holder key; ARGV: the closing connection's value, TTL. */
const EXPIRE_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1`;
/**
 * KEYS: holder, EXPIRING, this node's sessions; ARGV: the closing connection's value, TTL, client
 * id, seconds the session outlives the connection, now (ms). Only while the record is its own.
 */
const RELEASE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[3])
local keep = tonumber(ARGV[4])
if keep > 0 then redis.call('ZADD', KEYS[2], tonumber(ARGV[5]) + keep * 1000, ARGV[3]) end
return 1`;

/**
 * Seconds `client`'s session outlives its connection, when it expires at all: MQTT 5 with a
 * session expiry (aedes clamps it to SIGNALGATE_MAX_SESSION_EXPIRY). aedes keeps a 3.1.1 session
 * without an expiry, so a cluster does too.
 */
function expiringAfter(client: Client): number {
  const c = client as Client & { clean?: boolean; sessionExpiryInterval?: number };
  return c.version === 5 && !c.clean ? (c.sessionExpiryInterval ?? 0) : 0;
}

type TimedBroker = {
  delayedWills: Map<string, unknown>;
  clearSessionExpiry(id: string): void;
  clearDelayedWill(id: string): void;
  persistence: { delWill(client: { id: string; brokerId: string }): Promise<unknown> };
};
type LocalClient = Client & { closed: boolean; disconnect(o: { reasonCode: number }, cb: () => void): void };
const takenOver = (client: LocalClient, done: () => void) => {
  if (client.closed) return done();
  client.disconnect({ reasonCode: SESSION_TAKEN_OVER }, () => done());
};
