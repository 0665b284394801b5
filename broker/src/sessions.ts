// Live sessions of this broker: per-client state (who, which token, what rights, until when),
// per-organisation counters and rate buckets, the sessions table, presence, and ending a session
// (expiry, revoke, kick). Hooks read from here; the change watcher and timers write.
import type { Client } from 'aedes';
import {
  bucketFor, clientTopic, clipped, EffectiveRights, SESSION_ENDS,
  type ConnectRefusal, type Logger, type Org, type OrgLimits, type Services, type SessionEnd, type SessionRecord, type TokenBucket,
} from '@signalgate/shared';
import type { BrokerMetrics } from './metrics.js';
import type { ConnectionInfo, Protocol } from './context.js';
import type { PresencePublisher } from './presence.js';
import type { SharedGroups } from './sharedGroups.js';
import type { SessionOwners } from './sessionOwners.js';
import { SessionRowWriter } from './sessionRows.js';
import { GroupedBy } from './groupedBy.js';
import { Deadlines } from './deadlines.js';
import { grantedFilters, heldFilters } from './grantedQos.js';
import { forgetStoredSubscriptions } from './storedSubscriptions.js';
import type { ClusterRates, RateOf } from './cluster/orgRates.js';

/** A rate limit's bucket: this process's own, or in a cluster the cluster's (cluster/orgRates.ts). */
export type RateBucket = Pick<TokenBucket, 'available' | 'take'>;

/** Why SignalGate ended a session; an MQTT 5 client is told with SESSION_ENDS' reason code. */
export type EndReason = SessionEnd;

export interface ClientSession {
  orgId: string;
  userId: string;
  userRef: string;
  /** The token's id, or `key:<key_id>` for a backend's `server@<org>` session (keySessionId). */
  tokenId: string;
  /** A backend logged in with a secret key: not a user, so no presence; limits as any session. */
  server: boolean;
  /** The id the client sent (or aedes generated); aedes knows it as `<org>/<clientId>`. */
  clientId: string;
  protocol: Protocol;
  /** MQTT protocol level: 3 (3.1), 4 (3.1.1) or 5. */
  protocolVersion: number;
  address: string | null;
  connectedAt: number;
  expiresAt: number;
  rights: EffectiveRights;
  /** Set when the broker ends the session; a will is not published for such a session. */
  endReason: EndReason | null;
  closed: boolean;
  deniedPublishes: number;
  deniedSubscribes: number;
  client: Client;
  /** The session's slot in the registry's expiry queue (Deadlines). */
  heapIndex: number;
}

interface OrgState {
  limits: OrgLimits;
  clients: Set<Client>;
  messages: RateBucket | null;
  bytes: RateBucket | null;
  /** The org's default rule set grants `history`: without it no token of the org can read history. */
  history: boolean;
  /** Likewise for `presence`: without it no token of the org can subscribe to presence. */
  presence: boolean;
}

/** Aedes' Client as the broker uses it: the fields below exist in aedes 2.0.0-beta.1 but not in its .d.ts. */
export type AedesClient = Client & { id: string; connackSent: boolean; _disconnected: boolean; subscriptions: Record<string, { qos: number }> };

export class SessionRegistry {
  private readonly byClient = new WeakMap<Client, ClientSession>();
  private readonly connections = new WeakMap<object, ConnectionInfo>();
  private readonly orgs = new Map<string, OrgState>();
  /** Limits of orgs with no session here, as last read (limitsOf). */
  private readonly absentOrgLimits = new Map<string, { limits: OrgLimits | undefined; at: number }>();
  private readonly byToken = new GroupedBy<string, Client>();
  private readonly tokenBuckets = new Map<string, { bucket: RateBucket; users: number }>();
  /** Orgs with a max_connects_per_second: one entry per such org, for the broker's lifetime. */
  private readonly connectRates = new Map<string, { perSecond: number; nodes: number; bucket: TokenBucket }>();
  /** In a cluster: the message and byte rates are the cluster's buckets, leased (useClusterRates). */
  private clusterRates: ClusterRates | null = null;
  private readonly rows: SessionRowWriter;
  /** Sessions by token expiry: one timer for all (one per session was ~280 bytes). */
  private readonly expiries = new Deadlines<ClientSession>((s) => this.end(s.client, 'expired'));
  private lastConnectedAt = 0;
  private shuttingDown = false;

  constructor(
    private readonly services: Services,
    private readonly brokerId: string,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    private readonly presence: PresencePublisher,
    private readonly shared: SharedGroups,
    private readonly owners: SessionOwners,
  ) {
    this.rows = new SessionRowWriter(services.store, brokerId, logger);
  }

  get(client: Client | null | undefined): ClientSession | undefined {
    return client ? this.byClient.get(client) : undefined;
  }

  /** Recorded by the listener for the connection a client will be built on. */
  setConnectionInfo(conn: object, info: ConnectionInfo): void {
    this.connections.set(conn, info);
  }

  connectionInfo(client: Client): ConnectionInfo {
    const s = this.byClient.get(client);
    if (s) return { protocol: s.protocol, address: s.address };
    return this.connections.get(client.conn) ?? { protocol: 'mqtt', address: null };
  }

  /**
   * May a client of `org` connect now as `internalId`? The org's connection count (not counting a
   * client id about to be taken over) and its connect rate; a CONNECT that passes uses one token.
   */
  admitConnect(org: Org, internalId: string, now: number): Extract<ConnectRefusal, 'org_connection_limit' | 'org_connect_rate'> | null {
    const state = this.orgs.get(org.id);
    const max = org.limits.maxConnections;
    if (max !== null) {
      let n = state?.clients.size ?? 0;
      for (const c of state?.clients ?? []) if ((c as AedesClient).id === internalId) n--;
      if (n >= max) return 'org_connection_limit';
    }
    const perSecond = org.limits.maxConnectsPerSecond;
    if (perSecond === null) return null;
    // Kept per org whether or not it has sessions here, so refused attempts keep counting. In a
    // cluster each node admits its share, rate ÷ live nodes (EMQX's way): the CONNECT path asks for
    // no answer from Redis here, and a reconnect storm comes spread over the nodes by whatever
    // balances them (README, "what a limit means in a cluster").
    const nodes = this.clusterRates?.liveNodes ?? 1;
    let rate = this.connectRates.get(org.id);
    if (!rate || rate.perSecond !== perSecond || rate.nodes !== nodes) {
      this.connectRates.set(org.id, (rate = { perSecond, nodes, bucket: bucketFor(perSecond / nodes, now)! }));
    }
    return rate.bucket.take(1, now) ? null : 'org_connect_rate';
  }

  /** With SIGNALGATE_REDIS_URL, before any client: rates are the cluster's from here on. */
  useClusterRates(rates: ClusterRates): void {
    this.clusterRates = rates;
  }

  /** Whether the rate buckets are the cluster's (limits.ts: a publish may then wait for a lease). */
  get leasedRates(): boolean {
    return this.clusterRates !== null;
  }

  /** A bucket for `limit`: this process's own, or in a cluster the cluster's for the org's or token's `id`. */
  private rateBucket(of: RateOf, id: string, limit: number | null, now: number): RateBucket | null {
    if (limit === null) return null;
    return this.clusterRates ? this.clusterRates.bucket(of, id, limit) : bucketFor(limit, now);
  }

  /** A monotonic connect time: the sessions table removes a row only for the connect that wrote it. */
  nextConnectedAt(): number {
    this.lastConnectedAt = Math.max(Date.now(), this.lastConnectedAt + 1);
    return this.lastConnectedAt;
  }

  open(client: AedesClient, s: ClientSession, org: Org): void {
    this.byClient.set(client, s);
    this.connections.delete(client.conn); // the session holds it from here on
    const state = this.orgState(org);
    state.clients.add(client);
    this.byToken.add(s.tokenId, client);
    const limit = org.limits.tokenMessagesPerSecond;
    const tb = this.tokenBuckets.get(s.tokenId);
    if (tb) tb.users++;
    else if (limit !== null) this.tokenBuckets.set(s.tokenId, { bucket: this.rateBucket('token', s.tokenId, limit, Date.now())!, users: 1 });

    this.expiries.set(s);
    this.rows.upsert(this.rowOf(s));
    this.metrics.connections.inc({ protocol: s.protocol });
    this.metrics.connects.inc({ protocol: s.protocol });
    if (!s.server) this.presence.connected(s);
  }

  /**
   * aedes closed the client (for whatever reason; clientClosed.ts): undo `open`. The state stays
   * readable for the will. Also called for clients that never got a session.
   */
  closed(client: Client): void {
    this.owners.closed(client);
    const s = this.byClient.get(client);
    if (!s || s.closed) return;
    s.closed = true;
    this.expiries.delete(s);
    const org = this.orgs.get(s.orgId);
    org?.clients.delete(client);
    if (org && org.clients.size === 0) this.orgs.delete(s.orgId);
    this.byToken.delete(s.tokenId, client);
    const tb = this.tokenBuckets.get(s.tokenId);
    if (tb && --tb.users === 0) this.tokenBuckets.delete(s.tokenId);

    const reason = s.endReason ?? endReasonOf(client as AedesClient);
    this.metrics.connections.dec({ protocol: s.protocol });
    this.metrics.disconnects.inc({ reason });
    this.logger.debug({ org: s.orgId, client: s.clientId, reason }, 'mqtt session ended');
    if (this.shuttingDown) return; // close() clears this broker's rows at once; the broker no longer publishes
    this.rows.remove(s.orgId, s.clientId, s.connectedAt, s.tokenId);
    if (!s.server) this.presence.disconnected(s);
  }

  /**
   * Ends a live session now: an MQTT 5 client gets a DISCONNECT with the reason's code
   * [MQTT-3.14.2.1]; 3.1.1 has no server DISCONNECT, so its connection is closed.
   */
  end(client: Client, reason: EndReason): void {
    const s = this.byClient.get(client);
    // once: a second DISCONNECT could be written before the first one's close (revoke during a kick…)
    if (!s || s.closed || s.endReason !== null) return;
    s.endReason = reason;
    this.logger.info({ org: s.orgId, client: s.clientId, user: s.userId, token_id: s.tokenId, reason, disconnect: SESSION_ENDS[reason] }, 'ending mqtt session');
    const tell = () => client.disconnect({ reasonCode: SESSION_ENDS[reason], properties: { reasonString: reason } }, () => {});
    // Between its CONNACK and the end of its queued-message delivery a client is not `connected`
    // for aedes, which then closes it without a DISCONNECT: the reason would be lost (a window of
    // a Redis round trip in a cluster). Wait for it.
    const c = client as AedesClient & { connected: boolean };
    if (!c.connected && c.connackSent && !client.closed) client.once('connected', tell);
    else tell();
  }

  clientsOfToken(tokenId: string): Client[] {
    return this.byToken.get(tokenId);
  }

  /** Organisations with at least one open session on this broker (for usage sampling). */
  orgIds(): IterableIterator<string> {
    return this.orgs.keys();
  }

  clientsOfOrg(orgId: string): Client[] {
    return [...(this.orgs.get(orgId)?.clients ?? [])];
  }

  findClient(orgId: string, clientId: string): Client | undefined {
    for (const c of this.orgs.get(orgId)?.clients ?? []) if (this.byClient.get(c)?.clientId === clientId) return c;
    return undefined;
  }

  /** A refresh moved the token's expiry: the session lives on until the new one. */
  setExpiry(tokenId: string, expiresAt: number): void {
    for (const c of this.clientsOfToken(tokenId)) {
      const s = this.byClient.get(c)!;
      s.expiresAt = expiresAt;
      this.rows.refresh(this.rowOf(s));
      this.expiries.set(s);
    }
  }

  private rowOf(s: ClientSession): SessionRecord {
    return {
      brokerId: this.brokerId, orgId: s.orgId, clientId: s.clientId, userRef: s.userRef, tokenId: s.tokenId,
      address: s.address, protocol: s.protocol, connectedAt: s.connectedAt, expiresAt: s.expiresAt,
    };
  }

  orgLimits(orgId: string): OrgState | undefined {
    return this.orgs.get(orgId);
  }

  /**
   * The org's limits: as kept for an org with a session here, else read from the store (a late will,
   * a REST publish, messages queued for offline sessions), remembered for a second.
   */
  limitsOf(orgId: string): OrgLimits | undefined {
    const live = this.orgs.get(orgId)?.limits;
    if (live) return live;
    const now = Date.now();
    const known = this.absentOrgLimits.get(orgId);
    if (known && now - known.at < 1000) return known.limits;
    const limits = this.services.store.orgs.get(orgId)?.limits;
    if (this.absentOrgLimits.size >= 10_000) this.absentOrgLimits.clear();
    this.absentOrgLimits.set(orgId, { limits, at: now });
    return limits;
  }

  tokenBucket(tokenId: string): RateBucket | undefined {
    return this.tokenBuckets.get(tokenId)?.bucket;
  }

  /** The org's rules or settings changed: new limits, and rights recomputed from the store for each client. */
  refreshOrg(orgId: string): void {
    const org = this.services.store.orgs.get(orgId);
    const clients = this.clientsOfOrg(orgId);
    if (!org) {
      for (const c of clients) this.end(c, 'revoked');
      return;
    }
    const state = this.orgs.get(orgId);
    if (state) {
      const granted = this.defaultGrants(orgId);
      state.history = granted.history;
      const announce = granted.presence && !state.presence;
      state.presence = granted.presence; // before announcing: announce() asks whether presence is wanted
      if (announce) this.presence.announceOrg(orgId, clients.map((c) => this.byClient.get(c)!).filter((s) => !s.server));
    }
    if (state && JSON.stringify(state.limits) !== JSON.stringify(org.limits)) {
      const now = Date.now();
      state.limits = org.limits;
      state.messages = this.rateBucket('org_messages', orgId, org.limits.maxMessagesPerSecond, now);
      state.bytes = this.rateBucket('org_bytes', orgId, org.limits.maxBytesPerSecond, now);
      this.endBeyondConnectionLimit(org.id, state);
      const tokens = new Set(clients.map((c) => this.byClient.get(c)!.tokenId));
      for (const t of tokens) {
        const users = this.clientsOfToken(t).length;
        if (org.limits.tokenMessagesPerSecond === null) this.tokenBuckets.delete(t);
        else this.tokenBuckets.set(t, { bucket: this.rateBucket('token', t, org.limits.tokenMessagesPerSecond, now)!, users });
      }
    }
    for (const c of clients) {
      const s = this.byClient.get(c)!;
      const rights = this.services.connect.liveRightsOf(s.tokenId, s.orgId, s.userRef, s.clientId);
      if (!rights) {
        this.end(c, 'revoked');
        continue;
      }
      s.rights = rights;
      this.dropUncoveredSubscriptions(c as AedesClient, s);
    }
  }

  /** max_connections was lowered below the sessions open here: the newest ones beyond it end (quota exceeded). */
  private endBeyondConnectionLimit(orgId: string, state: OrgState): void {
    const max = state.limits.maxConnections;
    if (max === null || state.clients.size <= max) return;
    const newestFirst = [...state.clients].sort((a, b) => this.byClient.get(b)!.connectedAt - this.byClient.get(a)!.connectedAt);
    const excess = newestFirst.slice(0, state.clients.size - max);
    this.logger.info({ org: orgId, limit: max, ending: excess.length }, 'max_connections lowered: newest sessions end');
    for (const c of excess) this.end(c, 'quota_exceeded');
  }

  /** Subscriptions the new rights no longer cover are removed (no UNSUBACK: the client did not ask). */
  private dropUncoveredSubscriptions(client: AedesClient, s: ClientSession): void {
    const gone = Object.keys(client.subscriptions).filter((internal) => {
      const visible = clientTopic(s.orgId, internal);
      return visible === null || !s.rights.canSubscribe(visible);
    });
    if (gone.length === 0) return;
    // The first few, clipped: a client may hold thousands of long filters.
    const shown = gone.slice(0, 8).map((f) => clipped(clientTopic(s.orgId, f) ?? f));
    this.logger.info({ org: s.orgId, client: s.clientId, removed: gone.length, filters: shown }, 'rights changed: subscriptions removed');
    const granted = grantedFilters(client);
    const holding = heldFilters(client);
    for (const filter of gone) {
      granted.removed(filter);
      holding.delete(filter);
      this.shared.leave(client, filter);
    }
    client.unsubscribe({ unsubscriptions: gone } as never, () => {});
    forgetStoredSubscriptions(client, gone, (err) => this.logger.warn({ err, client: s.clientId }, 'could not remove stored subscriptions'));
  }

  /** Stops presence and row writes for the broker's own shutdown (the rows are cleared in one go). */
  beginShutdown(): void {
    this.shuttingDown = true;
    // The sessions end now: their tokens count as just used (replace_existing spares them while
    // their clients reconnect, here after a restart or to another broker).
    this.rows.touchNow([...this.byToken.keys()]);
    this.rows.stop();
  }

  /**
   * Whether messages of `orgId` are worth recording for the history API: only if its default rule
   * set (the upper bound of every token's rights) grants `history`. Kept per connected org and
   * re-read on rule changes; an org with no session here (a late will) is looked up.
   */
  recordsHistory(orgId: string): boolean {
    return this.orgs.get(orgId)?.history ?? this.defaultGrants(orgId).history;
  }

  /** Whether presence of `orgId` is published: only if its default rule set grants `presence` (as for history). */
  publishesPresence(orgId: string): boolean {
    return this.orgs.get(orgId)?.presence ?? this.defaultGrants(orgId).presence;
  }

  private defaultGrants(orgId: string): { history: boolean; presence: boolean } {
    const rules = this.services.store.ruleSets.getDefault(orgId);
    return { history: rules?.history ?? false, presence: rules?.presence ?? false };
  }

  private orgState(org: Org): OrgState {
    let state = this.orgs.get(org.id);
    if (!state) {
      const now = Date.now();
      state = {
        limits: org.limits, clients: new Set(),
        messages: this.rateBucket('org_messages', org.id, org.limits.maxMessagesPerSecond, now),
        bytes: this.rateBucket('org_bytes', org.id, org.limits.maxBytesPerSecond, now),
        ...this.defaultGrants(org.id),
      };
      this.orgs.set(org.id, state);
    }
    return state;
  }

}

/** Why a session the broker did not end ended: the client's DISCONNECT, a takeover, or a lost connection. */
function endReasonOf(client: AedesClient): string {
  if (client.disconnectReasonCode === SESSION_ENDS.taken_over) return 'taken_over';
  return client._disconnected ? 'client_disconnect' : 'connection_lost';
}
