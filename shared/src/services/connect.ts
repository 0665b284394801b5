// The decision a credential is judged on wherever it is presented: at CONNECT (the broker) and as
// a Bearer tkn_ password (the API's presence and history reads). No argon2 for tokens: an MQTT
// password is 256 random bits, so one SHA-256 and one indexed read decide it. The one exception is
// a backend's `server@<org>` login with the org's secret key (checkServerLogin): that key is argon2
// at rest, paid once and then cached by ApiKeyService, so that path alone is asynchronous.
import type { ConnectRefusal } from '../mqtt/reasonCodes.js';
import { SignalGateError } from '../errors.js';
import { FailureBudget, FailureBudgetSpent } from '../limits/failureBudget.js';
import { ORG_ID_PATTERN, TOKEN_PASSWORD_PATTERN, UUID_PATTERN } from '../credentials/secrets.js';
import { sha256Hex } from '../credentials/hashing.js';
import { tokenLayers, type EffectiveRights, type RuleLayer, type Rules } from '../acl/rights.js';
import { RightsCache } from '../acl/rightsCache.js';
import { ConnectRecordCache } from '../credentials/connectRecordCache.js';
import { ConcurrencyGate } from '../limits/concurrencyGate.js';
import type { ConnectRecord } from '../store/connectRecords.js';
import type { LocalChange } from '../store/localChanges.js';
import type { ChangeFollower } from './changeFollower.js';
import type { PlaceholderValues } from '../acl/placeholders.js';
import { tokenState, type TokenRecord } from '../store/tokens.js';
import type { User } from '../store/users.js';
import type { Org } from '../store/orgs.js';
import type { RuleSet } from '../store/ruleSets.js';
import type { Store, StoreTx } from '../store/types.js';
import { isKeyUsable, type ApiKey } from '../store/apiKeys.js';
import type { ApiKeyService } from './apiKeys.js';
import { systemClock, type Clock } from './clock.js';

export type ConnectVerdict =
  /** `defaultRules`: the org's default rules as this decision read them (the broker keeps their grants per org). */
  | { ok: true; token: TokenRecord; user: User; org: Org; rights: EffectiveRights; defaultRules: Rules | undefined }
  /** The protocol codes are looked up in CONNECT_REFUSALS (shared/src/mqtt/reasonCodes.ts). */
  | { ok: false; reason: Extract<ConnectRefusal, 'malformed_username' | 'bad_credentials' | 'expired' | 'revoked'> };

/**
 * A backend's session, opened with `server@<org>` and a secret key (CloudSignal's notifications
 * docs). It is not a user, and the session registry, the sessions table and the change feed are
 * keyed by token, so a key session is written in those terms, with values no token or user can take:
 * - tokenId `key:<key_id>` (token ids are UUIDs): revokes and rotations of the key find its
 *   sessions by it (`key.revoked`, `key.rotated` changes), and its rows say which key opened them;
 * - userRef `server` (user refs are `u` + 11 characters) and userId `server`: the rows of the
 *   sessions table name no user, and presence is never published for it;
 * - expiresAt: the key's expiry (a rotation's overlap), else KEY_SESSION_NO_EXPIRY.
 */
export const SERVER_USERNAME_PREFIX = 'server@';
export const SERVER_USER_REF = 'server';
export const SERVER_USER_ID = 'server';
/** 9999-12-31: a key without expiry; a date every store and ISO string can hold (unlike Infinity). */
export const KEY_SESSION_NO_EXPIRY = Date.UTC(9999, 11, 31);
const KEY_SESSION_PREFIX = 'key:';
export const keySessionId = (keyId: string) => `${KEY_SESSION_PREFIX}${keyId}`;
/** The key id of a session opened with a secret key, or null for a token's session. */
export const keyIdOfSession = (tokenId: string): string | null => (tokenId.startsWith(KEY_SESSION_PREFIX) ? tokenId.slice(KEY_SESSION_PREFIX.length) : null);
/** Whether a CONNECT username asks for a backend login (decided on the form alone, before any check). */
export const isServerUsername = (username: string | undefined): username is string => username?.startsWith(SERVER_USERNAME_PREFIX) === true;

/** A `server@` login with no such org, no password, or a key that is not the org's. */
class BadServerLogin extends Error {}
const isBadServerLogin = (err: unknown) => err instanceof BadServerLogin || (err instanceof SignalGateError && err.code === 'invalid_api_key');

export type ServerLoginVerdict =
  | { ok: true; key: ApiKey; org: Org; rights: EffectiveRights; defaultRules: Rules | undefined }
  | { ok: false; reason: Extract<ConnectRefusal, 'malformed_username' | 'bad_credentials' | 'auth_failure_budget' | 'server_busy'> };

/** A session whose rights are re-read (liveRightsOfOrg): its token (or `key:<key_id>`), user and client id. */
export interface LiveSession {
  tokenId: string;
  userRef: string;
  clientId: string;
}

/** `read` once per distinct id, all concurrently: the answers by id. For the few (keys, integrations). */
async function readEach<T>(ids: readonly string[], read: (id: string) => Promise<T>): Promise<Map<string, T>> {
  const distinct = [...new Set(ids)];
  const values = await Promise.all(distinct.map(read));
  return new Map(distinct.map((id, i) => [id, values[i]!]));
}

/** Ids per batched read: an org of 20k sessions is 20 reads one after another, not 20k at once (the pool). */
const READ_BATCH = 1000;

/** `readMany` over the distinct `ids` in batches of READ_BATCH, one batch at a time; the rows by `keyOf`. */
async function readBatched<T>(ids: readonly string[], readMany: (batch: string[]) => Promise<T[]>, keyOf: (row: T) => string): Promise<Map<string, T>> {
  const distinct = [...new Set(ids)];
  const out = new Map<string, T>();
  for (let i = 0; i < distinct.length; i += READ_BATCH) {
    for (const row of await readMany(distinct.slice(i, i + READ_BATCH))) out.set(keyOf(row), row);
  }
  return out;
}

export const mqttUsername = (userRef: string, orgId: string) => `${userRef}@${orgId}`;

/** `<user_ref>@<org_id>`, split at the last `@` (org ids never contain one). */
export function parseMqttUsername(username: string): { userRef: string; orgId: string } | null {
  const at = username.lastIndexOf('@');
  if (at <= 0) return null;
  const orgId = username.slice(at + 1);
  if (!ORG_ID_PATTERN.test(orgId)) return null;
  return { userRef: username.slice(0, at), orgId };
}

export const placeholderValuesOf = (user: Pick<User, 'userId' | 'userEmail'>, clientId?: string): PlaceholderValues => ({
  user_id: user.userId,
  ...(user.userEmail ? { user_email: user.userEmail } : {}),
  ...(clientId !== undefined ? { client_id: clientId } : {}),
});

/** The credential cache's bounds (SIGNALGATE_CONNECT_CACHE_*). */
export interface ConnectCacheOptions {
  /** Entries kept (0: no cache). */
  size: number;
  /** Store reads for cache misses at once; more wait, in a bounded queue (then: server busy). */
  concurrentMisses: number;
}

/** Misses waiting for a store read beyond which a CONNECT is answered "server busy". */
const MISS_QUEUE = 4096;

export class ConnectService {
  /** Failed `server@` logins per address this minute (the API's SIGNALGATE_AUTH_FAILURES_PER_IP). */
  private readonly serverLoginFailures: FailureBudget;
  private readonly cache: ConnectRecordCache;
  private readonly misses: ConcurrencyGate;
  /**
   * Lookups of a hash under way: a reconnect storm of one device reads the store once. Joined only
   * while nothing was dropped since the lookup began (its answer may predate a revoke).
   */
  private readonly pending = new Map<string, { read: Promise<ConnectRecord | undefined>; version: number }>();

  constructor(
    private readonly store: Store,
    private readonly keys: ApiKeyService,
    private readonly clock: Clock = systemClock,
    authFailuresPerMinute = 20,
    private readonly changes?: ChangeFollower,
    cacheOptions: ConnectCacheOptions = { size: 10_000, concurrentMisses: 16 },
  ) {
    this.serverLoginFailures = new FailureBudget(authFailuresPerMinute);
    this.cache = new ConnectRecordCache(cacheOptions.size);
    this.misses = new ConcurrencyGate(cacheOptions.concurrentMisses, MISS_QUEUE);
    changes?.subscribeCache((batch) => this.forget(batch));
  }

  /** Entries in the credential cache (a gauge). */
  get cachedCredentials(): number {
    return this.cache.size;
  }

  private forget(batch: readonly LocalChange[]): void {
    for (const c of batch) {
      if ((c.kind === 'token.revoked' || c.kind === 'token.refreshed') && c.ref !== null) this.cache.dropToken(c.ref);
      else if (c.kind === 'rules.changed' || c.kind === 'org.changed' || c.kind === 'user.changed') this.cache.dropOrg(c.orgId);
    }
  }

  /**
   * What the store says about a password hash, from the cache while the change feed is followed
   * and fresh (else every lookup reads the store: nothing would tell the cache of a revoke).
   */
  private async recordOf(hash: string): Promise<ConnectRecord | undefined> {
    const trusted = this.changes?.fresh === true;
    if (trusted) {
      const hit = this.cache.get(hash);
      if (hit) return hit;
    } else if (this.cache.size > 0) {
      this.cache.clear();
    }
    const version = this.cache.version;
    const inFlight = this.pending.get(hash);
    if (inFlight && inFlight.version === version) return inFlight.read;
    const entry = {
      version,
      read: this.misses.run(() => this.store.connectRecords.byPasswordHash(hash)).then((found) => {
        if (found && trusted) this.cache.set(hash, found, version);
        return found;
      }).finally(() => {
        if (this.pending.get(hash) === entry) this.pending.delete(hash);
      }),
    };
    this.pending.set(hash, entry);
    return entry.read;
  }

  /** Rights over `layers` for every connection and caller: shared when no placeholder is expanded. */
  private readonly rights = new RightsCache();

  /** Effective rights over `layers`, with placeholders expanded for `user` on connection `clientId`. */
  private rightsFor(layers: RuleLayer[], user: Pick<User, 'userId' | 'userEmail'>, clientId?: string): EffectiveRights {
    return this.rights.rightsOf(layers, placeholderValuesOf(user, clientId));
  }

  /**
   * The CONNECT decision and, when it admits, the rights of the connection `clientId`. Unknown or
   * mismatched credentials and a real credential that is expired or revoked are different refusals:
   * SDKs fetch fresh credentials on the second. Any password the token still keeps opens it (an
   * SDK reconnects with the password of its first CONNECT after refreshes).
   */
  async checkConnect(username: string | undefined, password: Buffer | string | undefined, clientId?: string): Promise<ConnectVerdict> {
    const parsed = username ? parseMqttUsername(username) : null;
    if (!parsed) return { ok: false, reason: 'malformed_username' };
    const verdict = await this.checkPassword(password, clientId);
    if (verdict.ok && (verdict.token.orgId !== parsed.orgId || verdict.token.userRef !== parsed.userRef)) {
      return { ok: false, reason: 'bad_credentials' };
    }
    return verdict;
  }

  /** A tkn_ password alone (HTTP Bearer): whose token it is, whether it is live, and its rights. */
  async checkPassword(password: Buffer | string | undefined, clientId?: string): Promise<ConnectVerdict> {
    const pw = typeof password === 'string' ? password : password?.toString('utf8');
    if (!pw || !TOKEN_PASSWORD_PATTERN.test(pw)) return { ok: false, reason: 'bad_credentials' };
    const found = await this.recordOf(sha256Hex(pw));
    if (!found) return { ok: false, reason: 'bad_credentials' };
    const { token, user, org } = found;
    const state = tokenState(token, this.clock());
    if (state !== 'live') return { ok: false, reason: state };
    if (!user || !org) return { ok: false, reason: 'revoked' };
    const rights = this.rightsFor(tokenLayers(found.defaultRules, found.integrationRules, token.scopes), user, clientId);
    return { ok: true, token, user, org, rights, defaultRules: found.defaultRules };
  }

  /**
   * A backend's CONNECT: username `server@<org short id or UUID>`, password a usable `sk_`/`cs_` key
   * of that org. Admits with the org's default rights alone (no integration, no scopes; rules with
   * `${user_id}` and the like grant nothing, as for any caller without a value). Every wrong,
   * foreign, revoked or expired key is bad credentials and counts against `address`'s failure
   * budget by the API's rules (FailureBudget.attempt): a key not cached yet is charged before
   * argon2 runs and given back if it verifies, so CONNECTs of one address arriving while checks run
   * cannot all pass the budget (they did: 604 argon2 runs from 1,000 concurrent wrong keys with a
   * budget of 20); once the budget is spent no argon2 runs and failures answer
   * `auth_failure_budget`, while a key already verified (cached) still logs in.
   * Never throws for a bad credential; a store failure rejects.
   */
  async checkServerLogin(username: string, password: Buffer | string | undefined, address: string | null): Promise<ServerLoginVerdict> {
    const ref = username.startsWith(SERVER_USERNAME_PREFIX) ? username.slice(SERVER_USERNAME_PREFIX.length) : '';
    if (!ORG_ID_PATTERN.test(ref) && !UUID_PATTERN.test(ref)) return { ok: false, reason: 'malformed_username' };
    const org = await this.store.orgs.byRef(ref);
    const secret = typeof password === 'string' ? password : password?.toString('utf8');
    // Without an address (not seen on TCP or WebSocket) all such callers share one budget.
    try {
      return await this.serverLoginFailures.attempt(address ?? '', this.clock, async (beforeSlowCheck): Promise<ServerLoginVerdict> => {
        if (!org || !secret) throw new BadServerLogin();
        const key = await this.keys.verify(secret, beforeSlowCheck);
        if (key.orgId !== org.id) throw new BadServerLogin();
        const defaultRules = await this.store.ruleSets.getDefault(org.id);
        return { ok: true, key, org, rights: this.serverRights(defaultRules), defaultRules };
      }, isBadServerLogin);
    } catch (err) {
      if (err instanceof FailureBudgetSpent) return { ok: false, reason: 'auth_failure_budget' };
      if (isBadServerLogin(err)) return { ok: false, reason: 'bad_credentials' };
      if (err instanceof SignalGateError && err.code === 'server_busy') return { ok: false, reason: 'server_busy' };
      throw err;
    }
  }

  /** What a backend's session of `orgId` may do: the default rule set alone, with no placeholder values. */
  async serverRightsOf(orgId: string): Promise<EffectiveRights> {
    return this.serverRights(await this.store.ruleSets.getDefault(orgId));
  }

  private serverRights(defaultRules: Rules | undefined): EffectiveRights {
    // No values at all: a backend is no user and its client id is its own business, so every
    // placeholder rule is unexpandable (an allow grants nothing; a deny, per expandLayer, denies
    // every value).
    return this.rights.rightsOf(tokenLayers(defaultRules, undefined, []), {});
  }

  /**
   * The layers a token's rights are the intersection of, read now: org default, the integration's
   * rule set, then the token's own scopes. A deleted integration leaves a layer that grants nothing.
   */
  async layersOf(token: Pick<TokenRecord, 'orgId' | 'integrationId' | 'scopes'>): Promise<RuleLayer[]> {
    const integrationRules = token.integrationId === null ? undefined : (await this.integrationRuleSet(token.orgId, token.integrationId)) ?? null;
    return tokenLayers(await this.store.ruleSets.getDefault(token.orgId), integrationRules, token.scopes);
  }

  /**
   * What this token may do now, for `user`, on the connection `clientId` (placeholders expanded;
   * without a client id, as on an HTTP call, rules using `${client_id}` grant nothing).
   */
  async rightsOf(token: Pick<TokenRecord, 'orgId' | 'integrationId' | 'scopes'>, user: Pick<User, 'userId' | 'userEmail'>, clientId?: string): Promise<EffectiveRights> {
    return this.rightsFor(await this.layersOf(token), user, clientId);
  }

  /**
   * The rights of a token as they stand now, for its user on the connection `clientId`; null when
   * the token is no longer live (revoked, expired, gone) or its user is gone. For sessions whose
   * rights must be re-read: after a rule change, and for a will published after the connection.
   */
  async liveRightsOf(tokenId: string, orgId: string, userRef: string, clientId: string): Promise<EffectiveRights | null> {
    const keyId = keyIdOfSession(tokenId);
    if (keyId !== null) {
      const key = await this.store.apiKeys.get(keyId);
      return key && key.orgId === orgId && isKeyUsable(key, this.clock()) ? this.serverRightsOf(orgId) : null;
    }
    const token = await this.store.tokens.get(tokenId);
    const user = await this.store.users.byRef(orgId, userRef);
    if (!token || !user || tokenState(token, this.clock()) !== 'live') return null;
    return this.rightsOf(token, user, clientId);
  }

  /**
   * liveRightsOf for sessions of one org at once (a rule change re-evaluates all of them), with what
   * they share read once: the default rule set, each token, key, user and integration rule set.
   * The reads run concurrently, not one session after another (each is a round trip on a network
   * database). Also returns the default rules read (the org's grants of history and presence).
   */
  async liveRightsOfOrg(orgId: string, sessions: readonly LiveSession[]): Promise<{ defaultRules: RuleSet | undefined; rights: (EffectiveRights | null)[] }> {
    const ofTokens = sessions.filter((s) => keyIdOfSession(s.tokenId) === null);
    const [defaultRules, keys, tokens, users] = await Promise.all([
      this.store.ruleSets.getDefault(orgId),
      readEach(sessions.map((s) => keyIdOfSession(s.tokenId)).filter((k) => k !== null), (id) => this.store.apiKeys.get(id)),
      readBatched(ofTokens.map((s) => s.tokenId), (batch) => this.store.tokens.byIds(batch), (t) => t.id),
      readBatched(ofTokens.map((s) => s.userRef), (batch) => this.store.users.byRefs(orgId, batch), (u) => u.userRef),
    ]);
    const integrationIds = [...tokens.values()].flatMap((t) => (t && t.integrationId !== null ? [t.integrationId] : []));
    const integrationRules = await readEach(integrationIds, (id) => this.integrationRuleSet(orgId, id));
    const now = this.clock();
    let serverRights: EffectiveRights | undefined;
    const rights = sessions.map((s): EffectiveRights | null => {
      const keyId = keyIdOfSession(s.tokenId);
      if (keyId !== null) {
        const key = keys.get(keyId);
        return key && key.orgId === orgId && isKeyUsable(key, now) ? (serverRights ??= this.serverRights(defaultRules)) : null;
      }
      const token = tokens.get(s.tokenId);
      const user = users.get(s.userRef);
      if (!token || token.orgId !== orgId || !user || tokenState(token, now) !== 'live') return null;
      const integration = token.integrationId === null ? undefined : integrationRules.get(token.integrationId) ?? null;
      return this.rightsFor(tokenLayers(defaultRules, integration, token.scopes), user, s.clientId);
    });
    return { defaultRules, rights };
  }

  /** The rule set of an integration of `orgId`, if both still exist. */
  async integrationRuleSet(orgId: string, integrationId: string, db: StoreTx = this.store): Promise<RuleSet | undefined> {
    const integration = await db.integrations.get(orgId, integrationId);
    return integration && db.ruleSets.get(orgId, integration.ruleSetId);
  }
}
