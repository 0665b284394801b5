// Live sessions of this broker: per-client state (who, which token, what rights, until when),
// per-organisation counters and rate buckets, the sessions table, presence, and ending a session
// (expiry, revoke, kick). Hooks read from here; the change watcher and timers write.
//
// The store is asynchronous, and hooks must answer at once: what an organisation's default rules
// grant (history, presence) and its limits are kept in memory per org with a session here, filled
// from what its first CONNECT read (no second read) and refreshed on its `rules.changed` and
// `org.changed` changes. For an org with no session here (a late will, a REST publish, messages
// queued for offline sessions) they are fetched before anything is decided on them, and kept a
// second.
import type { Client } from 'aedes';
import {
  bucketFor, clientTopic, clipped, EffectiveRights, SESSION_ENDS,
  type ConnectRefusal, type Logger, type Org, type OrgLimits, type Rules, type Services, type SessionEnd, type SessionRecord, type TokenBucket,
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
import { OrgChangeMarks } from './changeMarks.js';

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

/** What an org's default rule set grants beyond topics: without it, no token of the org has it. */
interface DefaultGrants {
  history: boolean;
  presence: boolean;
}

const grantsOf = (rules: Pick<Rules, 'history' | 'presence'> | undefined): DefaultGrants => ({ history: rules?.history ?? false, presence: rules?.presence ?? false });

/** An organisation with no session here, as read (limits undefined: the org is gone). */
interface AbsentOrg extends DefaultGrants {
  limits: OrgLimits | undefined;
}

/** How long what was read of an org with no session here is used. */
const ABSENT_ORG_MS = 1000;

/** What a CONNECT's check read, for the session it admits. */
export interface Admission {
  /** The org's default rules as the check read them (their grants are kept while the org has sessions here). */
  defaultRules: Rules | undefined;
  /** OrgChangeMarks.mark() taken before the check. */
  mark: number;
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
  /** Orgs with no session here, as last read or being read (absentOrg). */
  private readonly absent = new Map<string, { org: AbsentOrg | Promise<AbsentOrg>; at: number }>();
  /** Changes the watcher applied, against which a CONNECT checked meanwhile is compared (changeMarks.ts). */
  readonly changeMarks = new OrgChangeMarks();
  /** Re-evaluations under way per org, and whether another one was asked for meanwhile (refreshOrg). */
  private readonly refreshes = new Map<string, { again: boolean; done: Promise<void> }>();
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

  open(client: AedesClient, s: ClientSession, org: Org, admission: Admission): void {
    this.byClient.set(client, s);
    this.connections.delete(client.conn); // the session holds it from here on
    const state = this.orgState(org, admission.defaultRules);
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
    // A change of the org applied while this CONNECT was checked did not reach this session.
    if (this.changeMarks.changedSince(org.id, admission.mark)) this.refreshOrgLogged(org.id);
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
    this.byToken.delete(s.tokenId, client);
    const tb = this.tokenBuckets.get(s.tokenId);
    if (tb && --tb.users === 0) this.tokenBuckets.delete(s.tokenId);

    const reason = s.endReason ?? endReasonOf(client as AedesClient);
    this.metrics.connections.dec({ protocol: s.protocol });
    this.metrics.disconnects.inc({ reason });
    this.logger.debug({ org: s.orgId, client: s.clientId, reason }, 'mqtt session ended');
    // close() clears this broker's rows at once; the broker no longer publishes
    if (!this.shuttingDown) {
      this.rows.remove(s.orgId, s.clientId, s.connectedAt, s.tokenId);
      if (!s.server) this.presence.disconnected(s); // while the org's state says whether presence is wanted
    }
    if (org && org.clients.size === 0) this.orgs.delete(s.orgId);
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
    // From its admission (the session opens before the CONNACK) to the end of its queued-message
    // delivery a client is not `connected` for aedes, which then closes it without a DISCONNECT,
    // or before any CONNACK: the reason would be lost (a window of a Redis round trip in a
    // cluster; a store's round trip when a change re-evaluates a session just admitted). Wait for it.
    const c = client as AedesClient & { connected: boolean; connecting: boolean };
    if (!c.connected && (c.connackSent || c.connecting) && !client.closed) client.once('connected', tell);
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
   * The org's limits: as kept for an org with a session here (at once), else read from the store (a
   * late will, a REST publish, messages queued for offline sessions), remembered for a second; a
   * Promise only while that read is under way. Never rejects (absentOrg).
   */
  limitsOf(orgId: string): OrgLimits | undefined | Promise<OrgLimits | undefined> {
    const live = this.orgs.get(orgId)?.limits;
    if (live) return live;
    const absent = this.absentOrg(orgId);
    return absent instanceof Promise ? absent.then((a) => a.limits) : absent.limits;
  }

  /**
   * An org with no session here, as read at most ABSENT_ORG_MS ago; a Promise while it is read (one
   * read at a time per org: callers meanwhile share it, in order). A failed read is logged and
   * answers what was known before, else no limits and no grants, for ABSENT_ORG_MS.
   */
  private absentOrg(orgId: string): AbsentOrg | Promise<AbsentOrg> {
    const known = this.absent.get(orgId);
    if (known && (known.org instanceof Promise || Date.now() - known.at < ABSENT_ORG_MS)) return known.org;
    const before = known?.org as AbsentOrg | undefined;
    const entry: { org: AbsentOrg | Promise<AbsentOrg>; at: number } = { at: Date.now(), org: undefined as never };
    const { store } = this.services;
    entry.org = Promise.all([store.orgs.get(orgId), store.ruleSets.getDefault(orgId)]).then(
      ([org, rules]): AbsentOrg => ({ limits: org?.limits, ...grantsOf(rules) }),
      (err: unknown): AbsentOrg => {
        this.logger.warn({ err, org: orgId }, 'could not read an organisation; using what was known of it');
        return before ?? { limits: undefined, history: false, presence: false };
      },
    ).then((read) => {
      if (this.absent.get(orgId) === entry) this.absent.set(orgId, { org: read, at: Date.now() });
      return read;
    });
    if (this.absent.size >= 10_000) this.absent.clear();
    this.absent.set(orgId, entry);
    return entry.org;
  }

  tokenBucket(tokenId: string): RateBucket | undefined {
    return this.tokenBuckets.get(tokenId)?.bucket;
  }

  /**
   * The org's rules or settings changed: new grants and limits, and rights re-read for each client
   * (in one go: ConnectService.liveRightsOfOrg). One re-evaluation at a time per org: one asked for
   * while another runs runs after it (its reads could otherwise land after newer ones).
   */
  refreshOrg(orgId: string): Promise<void> {
    const running = this.refreshes.get(orgId);
    if (running) {
      running.again = true;
      return running.done;
    }
    const entry = { again: true, done: Promise.resolve() };
    entry.done = (async () => {
      try {
        while (entry.again) {
          entry.again = false;
          await this.reevaluateOrg(orgId);
        }
      } finally {
        this.refreshes.delete(orgId);
      }
    })();
    this.refreshes.set(orgId, entry);
    return entry.done;
  }

  private refreshOrgLogged(orgId: string): void {
    this.refreshOrg(orgId).catch((err: unknown) => this.logger.error({ err, org: orgId }, 'could not re-evaluate the sessions of an organisation'));
  }

  private async reevaluateOrg(orgId: string): Promise<void> {
    this.absent.delete(orgId);
    const state = this.orgs.get(orgId);
    if (!state) return; // no session here: nothing to re-evaluate
    const sessions = [...state.clients].map((c) => this.byClient.get(c)!);
    const [org, { defaultRules, rights }] = await Promise.all([
      this.services.store.orgs.get(orgId),
      this.services.connect.liveRightsOfOrg(orgId, sessions),
    ]);
    // (Sessions may have opened or closed meanwhile: the org's state and clients are taken anew.)
    if (!org) {
      for (const c of this.clientsOfOrg(orgId)) this.end(c, 'revoked');
      return;
    }
    const current = this.orgs.get(orgId);
    if (current) this.applyOrg(org, current, grantsOf(defaultRules));
    sessions.forEach((s, i) => {
      if (s.closed) return;
      const r = rights[i];
      if (!r) return this.end(s.client, 'revoked');
      s.rights = r;
      this.dropUncoveredSubscriptions(s.client as AedesClient, s);
    });
  }

  /** New grants and limits of an org with sessions here. */
  private applyOrg(org: Org, state: OrgState, granted: DefaultGrants): void {
    const clients = [...state.clients];
    state.history = granted.history;
    const announce = granted.presence && !state.presence;
    state.presence = granted.presence; // before announcing: announce() asks whether presence is wanted
    if (announce) this.presence.announceOrg(org.id, clients.map((c) => this.byClient.get(c)!).filter((s) => !s.server));
    if (JSON.stringify(state.limits) === JSON.stringify(org.limits)) return;
    const now = Date.now();
    state.limits = org.limits;
    state.messages = this.rateBucket('org_messages', org.id, org.limits.maxMessagesPerSecond, now);
    state.bytes = this.rateBucket('org_bytes', org.id, org.limits.maxBytesPerSecond, now);
    this.endBeyondConnectionLimit(org.id, state);
    const tokens = new Set(clients.map((c) => this.byClient.get(c)!.tokenId));
    for (const t of tokens) {
      const users = this.clientsOfToken(t).length;
      if (org.limits.tokenMessagesPerSecond === null) this.tokenBuckets.delete(t);
      else this.tokenBuckets.set(t, { bucket: this.rateBucket('token', t, org.limits.tokenMessagesPerSecond, now)!, users });
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

  /**
   * Stops presence and row writes for the broker's own shutdown (the rows are cleared in one go).
   * Resolves once this registry's last writes are done: the tokens' last use, a flush under way.
   */
  beginShutdown(): Promise<void> {
    this.shuttingDown = true;
    // The sessions end now: their tokens count as just used (replace_existing spares them while
    // their clients reconnect, here after a restart or to another broker).
    const touched = this.rows.touchNow([...this.byToken.keys()]);
    const stopped = this.rows.stop();
    return Promise.all([touched, stopped]).then(() => {});
  }

  /**
   * Whether messages of `orgId` are worth recording for the history API: only if its default rule
   * set (the upper bound of every token's rights) grants `history`. Known at once for an org with a
   * session here (or read less than a second ago); undefined otherwise (a late will, a REST
   * publish): the recorder then decides with historyWanted before it writes.
   */
  recordsHistory(orgId: string): boolean | undefined {
    const live = this.orgs.get(orgId);
    if (live) return live.history;
    const absent = this.absent.get(orgId);
    return absent && !(absent.org instanceof Promise) && Date.now() - absent.at < ABSENT_ORG_MS ? absent.org.history : undefined;
  }

  /** recordsHistory, read from the store when not known here. Never rejects (absentOrg). */
  async historyWanted(orgId: string): Promise<boolean> {
    return this.orgs.get(orgId)?.history ?? (await this.absentOrg(orgId)).history;
  }

  /**
   * Whether presence of `orgId` is published: only if its default rule set grants `presence` (as
   * for history). Asked only for an org with a session here (its sessions' opening and closing).
   */
  publishesPresence(orgId: string): boolean {
    return this.orgs.get(orgId)?.presence ?? false;
  }

  /** The org's state, created for its first session here with the default rules its CONNECT read. */
  private orgState(org: Org, defaultRules: Rules | undefined): OrgState {
    let state = this.orgs.get(org.id);
    if (!state) {
      const now = Date.now();
      state = {
        limits: org.limits, clients: new Set(),
        messages: this.rateBucket('org_messages', org.id, org.limits.maxMessagesPerSecond, now),
        bytes: this.rateBucket('org_bytes', org.id, org.limits.maxBytesPerSecond, now),
        ...grantsOf(defaultRules),
      };
      this.orgs.set(org.id, state);
      this.absent.delete(org.id);
    }
    return state;
  }

}

/** Why a session the broker did not end ended: the client's DISCONNECT, a takeover, or a lost connection. */
function endReasonOf(client: AedesClient): string {
  if (client.disconnectReasonCode === SESSION_ENDS.taken_over) return 'taken_over';
  return client._disconnected ? 'client_disconnect' : 'connection_lost';
}
