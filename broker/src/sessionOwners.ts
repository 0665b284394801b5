// Who owns each MQTT session on this broker. Client ids are chosen by clients and are per
// organisation, so without an owner any user of the org could resume another user's persistent
// session (and collect its queued messages) or take over its connection by using its client id.
// A session belongs to the user whose connection created it: only that user (any of their tokens)
// resumes it or takes its connection over; anyone else is refused (`client_id_taken`).
//
// A session lives as long as aedes keeps it: while connected, and after that if it is persistent
// (3.1.1 clean session 0; MQTT 5 session expiry > 0) until it expires or the session cap drops it.
// aedes bounds stored MQTT 5 sessions (SIGNALGATE_MAX_STORED_SESSIONS) but keeps 3.1.1 ones for
// ever, so the same bound is applied here to 3.1.1: past it the oldest stored one is wiped. A stored
// session that holds nothing (no subscription) is no session at all and is forgotten. What is kept
// per session is the owner and the token, never the closed connection.
//
// A record is kept only for a session that outlives its connection (3.1.1 clean session 0, MQTT 5
// session expiry > 0): the owner of a connected clean session is its connection's user, read from
// the connection itself (a record for every connection was ~150 bytes of each idle one). Between
// its CONNECT being admitted and aedes registering it, such a connection is found in `arriving`.
//
// A session whose token (or backend key) is revoked is wiped: subscriptions, queued messages and
// will, so nothing keeps queuing for a device whose access was taken away. When an organisation's
// rules narrow, its stored sessions lose the subscriptions the owner's rights no longer cover.
import type { Aedes, Client } from 'aedes';
import { clientTopic, type EffectiveRights, type LiveSession } from '@signalgate/shared';
import { GroupedBy } from './groupedBy.js';

type SessionClient = Client & { clean: boolean; sessionExpiryInterval?: number };
type Stored = { topic: string };
type Persistence = {
  subscriptionsByClient(client: { id: string }): Promise<Stored[]>;
  removeSubscriptions(client: { id: string }, topics: string[]): Promise<void>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
  delWill(client: { id: string; brokerId: string }): Promise<unknown>;
  outgoingStream(client: { id: string }): AsyncIterable<{ messageId?: unknown }>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: unknown }): Promise<unknown>;
};
type Broker = { id: string; persistence: Persistence; clearSessionExpiry(id: string): void; clients: Record<string, SessionClient | undefined> };

/** Rights now of the owners of stored sessions of `orgId`, in order (null: the token is gone). */
export type RightsOf = (orgId: string, sessions: readonly LiveSession[]) => Promise<(EffectiveRights | null)[]>;

interface Owner {
  userRef: string;
  /** The token (or `key:<id>`) of the connection that last held the session. */
  tokenId: string;
  /** The connection holding the session now, or null while it is stored. */
  holder: SessionClient | null;
  /** 3.1.1 (aedes does not bound those); from the last connection. */
  legacy: boolean;
  /** The token was revoked while the connection was open: wipe the session when it closes. */
  revoked: boolean;
}

export class SessionOwners {
  private broker: Broker | null = null;
  /** By aedes client id (`<org>/<client id>`), least recently connected first. */
  private readonly byId = new Map<string, Owner>();
  private readonly idsOfToken = new GroupedBy<string, string>();
  /** Clean sessions admitted and not yet registered by aedes (its clients map has them after). */
  private readonly arriving = new Map<string, SessionClient>();
  private storedLegacy = 0;

  constructor(
    private readonly maxStoredSessions: number,
    private readonly rightsOf: RightsOf,
    /** The user a live connection was admitted for. */
    private readonly userRefOf: (client: Client) => string | undefined,
  ) {}

  attach(aedes: Aedes): void {
    this.broker = aedes as unknown as Broker;
    // aedes dropped a stored session: it expired, or the stored-session cap refused to keep it.
    const dropped = (client: Client) => {
      if (this.byId.get(client.id)?.holder === null) this.forget(client.id);
    };
    aedes.on('sessionExpired', dropped);
    aedes.on('client', (client) => {
      if (this.arriving.get(client.id) !== client) return;
      this.arriving.delete(client.id);
      // A clean session is registered: aedes has discarded the stored session of the id, so its
      // record goes now (not at the CONNECT: one that closes before this keeps the stored session).
      const stored = this.byId.get(client.id);
      if (stored && (stored.holder === null || stored.holder.closed)) this.forget(client.id);
    });
    (aedes as unknown as { on(e: 'sessionLimitReached', fn: (c: Client) => void): void }).on('sessionLimitReached', dropped);
  }

  /** May `userRef` open a session under the aedes client id `id`? */
  mayUse(id: string, userRef: string): boolean {
    const owner = this.byId.get(id);
    if (owner !== undefined) return owner.userRef === userRef;
    const live = this.arriving.get(id) ?? this.broker?.clients[id];
    return live === undefined || live.closed || this.userRefOf(live) === userRef;
  }

  /** `client`, admitted for `userRef` with `tokenId`, now holds the session `client.id`. */
  claim(client: Client, userRef: string, tokenId: string): void {
    if ((client as SessionClient).clean) {
      // Ends with its connection. A stored session of the id keeps its record until aedes has
      // registered this connection (and discarded that session): see attach.
      this.arriving.set(client.id, client as SessionClient);
      return;
    }
    const previous = this.byId.get(client.id);
    if (previous) {
      this.unlink(client.id, previous);
      this.byId.delete(client.id); // to the end: the map runs from the least recently connected
    }
    const owner: Owner = { userRef, tokenId, holder: client as SessionClient, legacy: client.version !== 5, revoked: false };
    this.byId.set(client.id, owner);
    this.idsOfToken.add(tokenId, client.id);
  }

  /**
   * `tokenId` was revoked: the sessions it last held are wiped, now for those stored without a
   * connection, at their close for the open ones (the broker is ending them).
   */
  revokeToken(tokenId: string): void {
    for (const id of this.idsOfToken.get(tokenId)) {
      const owner = this.byId.get(id)!;
      if (owner.holder === null) this.wipe(id);
      else owner.revoked = true;
    }
  }

  /**
   * The stored session `id` expired by the cluster's clock (cluster/sessionExpiry.ts): the node it
   * closed on may be gone. Wiped unless a connection here holds it again.
   */
  expiredInCluster(id: string): void {
    if (this.byId.get(id)?.holder) return;
    this.wipe(id);
  }

  /** `orgId`'s rules changed: stored sessions drop the subscriptions their owners' rights no longer cover. */
  async narrowStored(orgId: string): Promise<void> {
    const persistence = this.broker?.persistence;
    if (!persistence) return;
    const stored = [...this.byId].filter(([id, owner]) => owner.holder === null && id.startsWith(`${orgId}/`));
    if (stored.length === 0) return;
    // The owners' rights in one go (each token, user and rule set read once).
    const rightsNow = await this.rightsOf(orgId, stored.map(([id, owner]) => ({ tokenId: owner.tokenId, userRef: owner.userRef, clientId: id.slice(orgId.length + 1) })));
    for (const [i, [id, owner]] of stored.entries()) {
      if (this.byId.get(id) !== owner || owner.holder !== null) continue; // resumed or gone meanwhile
      // A token that expired (not revoked: that wipes) leaves its session for the user's next token,
      // whose rights are checked when it resumes.
      const rights = rightsNow[i];
      if (!rights) continue;
      const subscriptions = await persistence.subscriptionsByClient({ id });
      const gone = subscriptions.map((s) => s.topic).filter((t) => {
        const visible = clientTopic(orgId, t);
        return visible === null || !rights.canSubscribe(visible);
      });
      if (gone.length > 0) await persistence.removeSubscriptions({ id }, gone);
    }
  }

  /** Sessions held (connected or stored) by this broker: for tests and metrics. */
  get size(): number {
    return this.byId.size;
  }

  /** The connection of `client` closed (SessionRegistry hears it, for both). */
  closed(aedesClient: Client): void {
    const client = aedesClient as SessionClient;
    if (this.arriving.get(client.id) === client) this.arriving.delete(client.id);
    const owner = this.byId.get(client.id);
    if (!owner || owner.holder !== client) return; // a clean session, or taken over: the new connection holds it now
    owner.holder = null;
    if (owner.revoked) return this.wipe(client.id);
    const kept = client.version === 5 ? (client.sessionExpiryInterval ?? 0) > 0 : !client.clean;
    if (!kept) return this.forget(client.id);
    if (owner.legacy) {
      this.storedLegacy++;
      this.boundLegacy();
    }
    // A session that stores no subscription holds nothing to resume: no owner to keep.
    void this.broker?.persistence.subscriptionsByClient({ id: client.id }).then((subs) => {
      if (subs.length === 0 && this.byId.get(client.id) === owner && owner.holder === null) this.forget(client.id);
    }, () => {});
  }

  /** Past the bound, the stored 3.1.1 session connected least recently is wiped (aedes bounds MQTT 5 ones itself). */
  private boundLegacy(): void {
    if (this.maxStoredSessions <= 0) return;
    for (const [id, owner] of this.byId) {
      if (this.storedLegacy <= this.maxStoredSessions) return;
      if (owner.holder === null && owner.legacy) this.wipe(id);
    }
  }

  /** Subscriptions, will and queued messages of the stored session `id` go, and its owner. */
  private wipe(id: string): void {
    const broker = this.broker;
    this.forget(id);
    if (!broker) return;
    const p = broker.persistence;
    const client = { id };
    broker.clearSessionExpiry(id);
    void (async () => {
      await p.cleanSubscriptions(client);
      await p.delWill({ id, brokerId: broker.id });
      for await (const queued of p.outgoingStream(client)) await p.outgoingClearMessageId(client, queued);
    })().catch(() => {});
  }

  private forget(id: string): void {
    const owner = this.byId.get(id);
    if (!owner) return;
    this.byId.delete(id);
    this.unlink(id, owner);
  }

  private unlink(id: string, owner: Owner): void {
    if (owner.holder === null && owner.legacy) this.storedLegacy--;
    this.idsOfToken.delete(owner.tokenId, id);
  }
}
