// Who owns each MQTT session on this broker. Client ids are chosen by clients and are per
// organisation, so without an owner any user of the org could resume another user's persistent
// session (and collect its queued messages) or take over its connection by using its client id.
// A session belongs to the user whose connection created it: only that user (any of their tokens)
// resumes it or takes its connection over; anyone else is refused (`client_id_taken`). Tokens minted
// without a user id are each their own user.
//
// A session lives as long as aedes keeps it: while connected, and after that if it is persistent
// (3.1.1 clean session 0; MQTT 5 session expiry > 0) until it expires or the session cap drops it.
// A session whose token (or backend key) is revoked is wiped: subscriptions, queued messages and
// will, so nothing keeps queuing for a device whose access was taken away.
import type { Aedes, Client } from 'aedes';

type SessionClient = Client & { clean: boolean; sessionExpiryInterval?: number };
type Wiping = { _wipeSession(client: Client): void; clearSessionExpiry(id: string): void };

interface Owner {
  userRef: string;
  /** The token (or `key:<id>`) of the connection that last held the session. */
  tokenId: string;
  /** That connection (open, or closed with its session stored). */
  client: SessionClient;
  /** The token was revoked while the connection was open: wipe the session when it closes. */
  revoked: boolean;
}

export class SessionOwners {
  private aedes: Aedes | null = null;
  /** By aedes client id (`<org>/<client id>`). */
  private readonly byId = new Map<string, Owner>();
  private readonly idsOfToken = new Map<string, Set<string>>();

  attach(aedes: Aedes): void {
    this.aedes = aedes;
    // aedes dropped a stored session: it expired, or the stored-session cap refused to keep it.
    aedes.on('sessionExpired', (client) => this.forget(client));
    (aedes as unknown as { on(e: 'sessionLimitReached', fn: (c: Client) => void): void }).on('sessionLimitReached', (client) => this.forget(client));
  }

  /** May `userRef` open a session under the aedes client id `id`? */
  mayUse(id: string, userRef: string): boolean {
    const owner = this.byId.get(id);
    return owner === undefined || owner.userRef === userRef;
  }

  /** `client`, admitted for `userRef` with `tokenId`, now holds the session `client.id`. */
  claim(client: Client, userRef: string, tokenId: string): void {
    const previous = this.byId.get(client.id);
    if (previous) this.idsOfToken.get(previous.tokenId)?.delete(client.id);
    this.byId.set(client.id, { userRef, tokenId, client: client as SessionClient, revoked: false });
    let ids = this.idsOfToken.get(tokenId);
    if (!ids) this.idsOfToken.set(tokenId, (ids = new Set()));
    ids.add(client.id);
    client.conn.once('close', () => this.closed(client as SessionClient));
  }

  /**
   * `tokenId` was revoked: the sessions it last held are wiped, now for those stored without a
   * connection, at their close for the open ones (the broker is ending them).
   */
  revokeToken(tokenId: string): void {
    for (const id of [...(this.idsOfToken.get(tokenId) ?? [])]) {
      const owner = this.byId.get(id)!;
      if (owner.client.closed) this.wipe(owner);
      else owner.revoked = true;
    }
  }

  /** Sessions held (connected or stored) by this broker: for tests and metrics. */
  get size(): number {
    return this.byId.size;
  }

  private closed(client: SessionClient): void {
    const owner = this.byId.get(client.id);
    if (!owner || owner.client !== client) return; // taken over: the new connection holds it now
    if (owner.revoked) return this.wipe(owner);
    const kept = client.version === 5 ? (client.sessionExpiryInterval ?? 0) > 0 : !client.clean;
    if (!kept) this.forget(client);
  }

  private wipe(owner: Owner): void {
    const aedes = this.aedes as unknown as Wiping | null;
    aedes?.clearSessionExpiry(owner.client.id);
    aedes?._wipeSession(owner.client);
    this.forget(owner.client);
  }

  private forget(client: Client): void {
    const owner = this.byId.get(client.id);
    if (!owner || owner.client !== client) return;
    this.byId.delete(client.id);
    const ids = this.idsOfToken.get(owner.tokenId);
    ids?.delete(client.id);
    if (ids?.size === 0) this.idsOfToken.delete(owner.tokenId);
  }
}
