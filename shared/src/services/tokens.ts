// Token lifecycle: mint, refresh, revoke, list. A tkn_ password exists in clear only in the
// mint/refresh response. The check of a presented password is ConnectService's (connect.ts).
import { SignalGateError, invalid, notFound, forbidden } from '../errors.js';
import { newTokenId, newTokenPassword, newUserRef, TOKEN_PASSWORD_PATTERN } from '../credentials/secrets.js';
import { USER_ID_RULE, isEmailAddress, isValidUserId } from '../credentials/users.js';
import { digestsEqual, sha256Hex } from '../credentials/hashing.js';
import { DENY_ALL, excessOver, expandLayer, layerOfRules, layersFromRequest, type RuleLayer, type ScopeRequest } from '../acl/rights.js';
import { tokenState, type TokenRecord } from '../store/tokens.js';
import type { User } from '../store/users.js';
import type { Store, StoreTx } from '../store/types.js';
import type { NewAuditEntry } from '../store/audit.js';
import { assertValidFilters } from './rules.js';
import { systemClock, type Clock } from './clock.js';
import { mqttUsername, placeholderValuesOf, type ConnectService } from './connect.js';

/** Who asked, for the audit trail. */
export interface RequestContext {
  ip?: string | undefined;
  userAgent?: string | undefined;
  apiKeyId?: string | undefined;
}

export interface MintRequest extends ScopeRequest {
  orgId: string;
  userId?: string | undefined;
  userEmail?: string | undefined;
  ttlSeconds?: number | undefined;
  integrationId?: string | undefined;
  replaceExisting?: boolean | undefined;
  /** The identity provider whose JWT this mint exchanges (recorded on the token and answered). */
  provider?: string | undefined;
}

/** Everything a mint or refresh response needs; the API shapes it into the superset body. */
export interface IssuedToken {
  tokenId: string;
  password: string;
  username: string;
  orgId: string;
  orgUuid: string;
  userId: string;
  userRef: string;
  userEmail: string | null;
  issuedAt: number;
  expiresAt: number;
  ttlSeconds: number;
  /** issue time + 90 % of the TTL (SPEC) */
  refreshRecommendedAt: number;
  integrationId: string | null;
  /** The identity provider the token was exchanged from; null when minted with a key. */
  provider: string | null;
  replacedTokenIds: string[];
}

/**
 * How long a token counts as in use after it was minted, refreshed or its last session ended:
 * replace_existing leaves such tokens alone (a tab that is reconnecting, or about to connect).
 */
export const DEFAULT_REPLACE_GRACE_SECONDS = 300;

/** SPEC: a refresh is recommended 90 % into the current lifetime (which a refresh restarts). */
export const refreshRecommendedAt = (start: number, expiresAt: number) => start + Math.floor((expiresAt - start) * 0.9);

export class TokenService {
  constructor(
    private readonly store: Store,
    private readonly connect: ConnectService,
    private readonly clock: Clock = systemClock,
    private readonly replaceGraceMs = DEFAULT_REPLACE_GRACE_SECONDS * 1000,
  ) {}

  /**
   * Mints a token; resolves once it is committed (SQLite: with the other mints of this event-loop
   * turn, group commit), so a 200 answered on it is durable.
   */
  async mint(req: MintRequest, ctx: RequestContext = {}): Promise<IssuedToken> {
    if (req.userId === undefined && req.userEmail === undefined) throw invalid('user_id', 'user_id or user_email is required');
    if (req.userId !== undefined && !isValidUserId(req.userId)) throw invalid('user_id', `must be ${USER_ID_RULE}`);
    if (req.userEmail !== undefined && !isEmailAddress(req.userEmail)) {
      throw invalid('user_email', 'must be an email address');
    }
    if (req.topics) assertValidFilters('topics', req.topics);
    if (req.acl?.publish) assertValidFilters('acl.publish', req.acl.publish);
    if (req.acl?.subscribe) assertValidFilters('acl.subscribe', req.acl.subscribe);

    const now = this.clock();
    return this.store.transaction(async (tx) => {
      const org = await tx.orgs.get(req.orgId);
      if (!org) throw notFound('organization_not_found', `organization ${req.orgId} not found`);
      const ttl = req.ttlSeconds ?? org.defaultTtlSeconds;
      if (!Number.isInteger(ttl) || ttl < org.minTtlSeconds || ttl > org.maxTtlSeconds) {
        throw invalid('ttl_seconds', `must be an integer within ${org.minTtlSeconds}-${org.maxTtlSeconds} seconds for this organization`);
      }
      // An organisation's key is trusted to say who a user is; an identity provider's claim only
      // fills an email the user does not have yet (it must not rewrite ${user_email} for the
      // user's other tokens).
      const user = await this.findOrCreateUser(tx, org.id, req.userId, req.userEmail, now, req.provider === undefined);
      const values = placeholderValuesOf(user);

      const upper = await this.upperLayers(tx, org.id, req.integrationId ?? null);
      const requested = layersFromRequest(req).map((l) => expandLayer(l, values, true));
      for (const want of requested) {
        for (const { layer, name } of upper) {
          const excess = excessOver(want, expandLayer(layer, values, true), name);
          if (excess) throw forbidden('scope_exceeds_organization', `requested scope exceeds what is allowed: ${excess}`);
        }
      }

      const replaced: string[] = [];
      if (req.replaceExisting) {
        for (const t of await this.idleTokensOf(tx, org.id, user.userRef, now)) {
          await this.revokeRecord(tx, t, 'replaced', now, ctx);
          replaced.push(t.id);
        }
      }

      const password = newTokenPassword();
      const token = {
        id: newTokenId(), orgId: org.id, userRef: user.userRef, passwordHash: sha256Hex(password),
        integrationId: req.integrationId ?? null, provider: req.provider ?? null, scopes: requested, apiKeyId: ctx.apiKeyId ?? null,
        issuedAt: now, expiresAt: now + ttl * 1000,
      };
      await tx.tokens.insert(token);
      await tx.audit.record({ event: 'token.minted', orgId: org.id, userId: user.userId, userRef: user.userRef, tokenId: token.id,
        ip: ctx.ip, userAgent: ctx.userAgent, expiresAt: token.expiresAt,
        detail: { integration_id: token.integrationId, ttl_seconds: ttl, provider: token.provider ?? undefined, replaced: replaced.length || undefined } }, now);
      return this.issued(token, org.uuid, password, user, replaced);
    }, { insertOnly: true });
  }

  /**
   * Rotates the password of a live token and extends its expiry by its TTL (proof of possession),
   * never past its organisation's absolute lifetime from the mint (max_token_lifetime_seconds): a
   * leaked token cannot be kept alive for ever by refreshing it. At that end it refreshes no more.
   */
  async refresh(tokenId: string, currentPassword: string, ctx: RequestContext = {}): Promise<IssuedToken> {
    const now = this.clock();
    // The failure is audited after the transaction has rolled back: recorded inside it, the row
    // would be undone by the very throw that reports the failure.
    let failedAudit: NewAuditEntry | null = null;
    const failure = (code: 'invalid_token_password' | 'token_expired' | 'token_revoked', message: string, t?: TokenRecord) => {
      failedAudit = { event: 'token.refresh_failed', orgId: t?.orgId, userRef: t?.userRef, tokenId, ip: ctx.ip, userAgent: ctx.userAgent, detail: { reason: code } };
      return new SignalGateError(code, message);
    };
    try {
      return await this.refreshInTransaction(tokenId, currentPassword, ctx, now, failure);
    } catch (err) {
      if (failedAudit) await this.store.audit.record(failedAudit, now);
      throw err;
    }
  }

  private refreshInTransaction(
    tokenId: string, currentPassword: string, ctx: RequestContext, now: number,
    failure: (code: 'invalid_token_password' | 'token_expired' | 'token_revoked', message: string, t?: TokenRecord) => SignalGateError,
  ): Promise<IssuedToken> {
    return this.store.transaction(async (tx) => {
      const t = await tx.tokens.get(tokenId);
      if (!t) throw notFound('token_not_found', `token ${tokenId} not found`);
      const oldHash = sha256Hex(currentPassword);
      if (!TOKEN_PASSWORD_PATTERN.test(currentPassword) || !digestsEqual(oldHash, t.passwordHash)) {
        throw failure('invalid_token_password', 'current_token_password does not match this token', t);
      }
      const state = tokenState(t, now);
      if (state === 'revoked') throw failure('token_revoked', 'token has been revoked; mint a new one', t);
      if (state === 'expired') throw failure('token_expired', 'token has expired; mint a new one', t);

      const org = (await tx.orgs.get(t.orgId))!;
      const ttlMs = t.expiresAt - (t.refreshedAt ?? t.issuedAt);
      const endOfLife = t.issuedAt + org.maxTokenLifetimeSeconds * 1000;
      if (now >= endOfLife) throw failure('token_expired', 'token has reached its absolute lifetime (max_token_lifetime_seconds); mint a new one', t);
      const password = newTokenPassword();
      const expiresAt = Math.min(now + ttlMs, endOfLife);
      if (!await tx.tokens.rotate(t.id, oldHash, sha256Hex(password), expiresAt, now)) {
        throw failure('invalid_token_password', 'token was refreshed concurrently; use the newest password', t);
      }
      await tx.sessions.setExpiryOfToken(t.id, expiresAt);
      const user = (await tx.users.byRef(t.orgId, t.userRef))!;
      await tx.audit.record({ event: 'token.refreshed', orgId: t.orgId, userId: user.userId, userRef: t.userRef, tokenId: t.id,
        ip: ctx.ip, userAgent: ctx.userAgent, expiresAt }, now);
      // Last: on PostgreSQL an append holds the feed's order lock until COMMIT.
      await tx.changes.append('token.refreshed', t.orgId, t.id, now);
      return this.issued({ ...t, issuedAt: now, expiresAt }, org.uuid, password, user, []);
    });
  }

  /** Revokes a token of `orgId`; live sessions using it are ended by the broker within a second. */
  async revoke(orgId: string, tokenId: string, reason = 'revoked', ctx: RequestContext = {}): Promise<TokenRecord> {
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      const t = await tx.tokens.get(tokenId);
      if (!t || t.orgId !== orgId) throw notFound('token_not_found', `token ${tokenId} not found`);
      if (t.revokedAt === null) await this.revokeRecord(tx, t, reason, now, ctx);
      return (await tx.tokens.get(tokenId))!;
    });
  }

  /** Revokes every live token of a user (e.g. the user left); returns the ids. */
  async revokeUser(orgId: string, userRef: string, reason = 'revoked', ctx: RequestContext = {}): Promise<string[]> {
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      const live = await tx.tokens.liveOfUser(orgId, userRef, now);
      for (const t of live) await this.revokeRecord(tx, t, reason, now, ctx);
      return live.map((t) => t.id);
    });
  }

  /** Revokes every live token the API key `keyId` minted (the key itself was revoked); returns their ids. */
  async revokeMintedBy(orgId: string, keyId: string, ctx: RequestContext = {}): Promise<string[]> {
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      const live = await tx.tokens.liveOfKey(orgId, keyId, now);
      for (const t of live) await this.revokeRecord(tx, t, 'key_revoked', now, ctx);
      return live.map((t) => t.id);
    });
  }

  async get(orgId: string, tokenId: string): Promise<TokenRecord> {
    const t = await this.store.tokens.get(tokenId);
    if (!t || t.orgId !== orgId) throw notFound('token_not_found', `token ${tokenId} not found`);
    return t;
  }

  /** Tokens of an org, or of one user (by user id, email or user_ref). */
  async list(orgId: string, filter: { user?: string | undefined; liveOnly?: boolean | undefined } = {}): Promise<TokenRecord[]> {
    const now = this.clock();
    if (filter.user !== undefined) {
      const user = await this.findUser(orgId, filter.user);
      if (!user) return [];
      const all = await this.store.tokens.listOfUser(orgId, user.userRef);
      return filter.liveOnly ? all.filter((t) => tokenState(t, now) === 'live') : all;
    }
    return this.store.tokens.listOfOrg(orgId, filter.liveOnly ?? false, now);
  }

  async findUser(orgId: string, key: string): Promise<User | undefined> {
    const users = this.store.users;
    return (await users.byId(orgId, key)) ?? (await users.byRef(orgId, key)) ?? (await users.byEmail(orgId, key));
  }

  /** The layers a mint request must stay within, named for a 403; an unknown integration is a 404. */
  private async upperLayers(tx: StoreTx, orgId: string, integrationId: string | null): Promise<{ layer: RuleLayer; name: string }[]> {
    const def = await tx.ruleSets.getDefault(orgId);
    const layers = [{ layer: def ? layerOfRules(def) : DENY_ALL, name: "the organization's default rule set" }];
    if (integrationId !== null) {
      const rs = await this.connect.integrationRuleSet(orgId, integrationId, tx);
      if (!rs) throw notFound('integration_not_found', `integration '${integrationId}' not found in ${orgId}`);
      layers.push({ layer: layerOfRules(rs), name: `integration '${integrationId}'` });
    }
    return layers;
  }

  private async findOrCreateUser(tx: StoreTx, orgId: string, userId: string | undefined, userEmail: string | undefined, now: number, mayChangeEmail: boolean): Promise<User> {
    const existing = userId !== undefined ? await tx.users.byId(orgId, userId) : await tx.users.byEmail(orgId, userEmail!);
    if (existing) {
      if (userEmail !== undefined && existing.userEmail !== userEmail && (mayChangeEmail || existing.userEmail === null)) {
        await tx.users.setEmail(orgId, existing.userRef, userEmail);
        await tx.changes.append('user.changed', orgId, existing.userRef, now);
        return { ...existing, userEmail };
      }
      return existing;
    }
    const userRef = newUserRef();
    // Email-only mints (seed 000) get the user_ref as their stable user id: always placeholder-safe.
    const user: User = { orgId, userRef, userId: userId ?? userRef, userEmail: userEmail ?? null, createdAt: now };
    await tx.users.insert(user);
    return user;
  }

  private async revokeRecord(tx: StoreTx, t: TokenRecord, reason: string, now: number, ctx: RequestContext): Promise<void> {
    await tx.tokens.revoke(t.id, reason, now);
    const user = await tx.users.byRef(t.orgId, t.userRef);
    await tx.audit.record({ event: 'token.revoked', orgId: t.orgId, userId: user?.userId, userRef: t.userRef, tokenId: t.id,
      ip: ctx.ip, userAgent: ctx.userAgent, expiresAt: t.expiresAt, detail: { reason } }, now);
    await tx.changes.append('token.revoked', t.orgId, t.id, now);
  }

  /**
   * What replace_existing retires: the user's other live tokens that no session uses and that
   * have not been minted, refreshed or used within the grace. A user's tabs and devices each hold
   * a token (the official SDK asks to replace on every connect); retiring one in use would end
   * that tab, whose reconnect is then refused for good.
   */
  private async idleTokensOf(tx: StoreTx, orgId: string, userRef: string, now: number): Promise<TokenRecord[]> {
    const inSession = new Set((await tx.sessions.ofUser(orgId, userRef)).map((s) => s.tokenId));
    const since = now - this.replaceGraceMs;
    return (await tx.tokens.liveOfUser(orgId, userRef, now)).filter((t) =>
      !inSession.has(t.id) && Math.max(t.issuedAt, t.refreshedAt ?? 0, t.lastUsedAt ?? 0) < since);
  }

  /** The answer to a mint or refresh, with its password in clear (the only time it is). */
  private issued(t: Pick<TokenRecord, 'id' | 'orgId' | 'userRef' | 'integrationId' | 'provider' | 'issuedAt' | 'expiresAt'>, orgUuid: string, password: string, user: User, replaced: string[]): IssuedToken {
    return {
      tokenId: t.id, password, username: mqttUsername(t.userRef, t.orgId), orgId: t.orgId, orgUuid, userId: user.userId,
      userRef: t.userRef, userEmail: user.userEmail, issuedAt: t.issuedAt, expiresAt: t.expiresAt,
      ttlSeconds: Math.round((t.expiresAt - t.issuedAt) / 1000), refreshRecommendedAt: refreshRecommendedAt(t.issuedAt, t.expiresAt),
      integrationId: t.integrationId, provider: t.provider, replacedTokenIds: replaced,
    };
  }

  /**
   * A live token's own credentials, answered again without minting (exchange of a SignalGate
   * access_token): the password given is the one answered, the lifetime is the token's current one.
   */
  async describe(token: TokenRecord, password: string): Promise<IssuedToken> {
    const user = (await this.store.users.byRef(token.orgId, token.userRef))!;
    const org = (await this.store.orgs.get(token.orgId))!;
    return this.issued({ ...token, issuedAt: token.refreshedAt ?? token.issuedAt }, org.uuid, password, user, []);
  }
}
