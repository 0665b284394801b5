// Token lifecycle: mint, refresh, revoke, list, and the CONNECT-time credential check the broker
// calls. A tkn_ password exists in clear only in the mint/refresh response.
import { SignalGateError, invalid, notFound, forbidden } from '../errors.js';
import type { ConnectRefusal } from '../mqtt/reasonCodes.js';
import { newTokenId, newTokenPassword, newUserRef, TOKEN_PASSWORD_PATTERN, ORG_ID_PATTERN } from '../credentials/secrets.js';
import { digestsEqual, sha256Hex } from '../credentials/hashing.js';
import { DENY_ALL, EffectiveRights, excessOver, expandLayer, layerOfRules, layersFromRequest, tokenLayers, type RuleLayer, type ScopeRequest } from '../acl/rights.js';
import type { PlaceholderValues } from '../acl/placeholders.js';
import { tokenState, type TokenRecord } from '../store/tokens.js';
import type { User } from '../store/users.js';
import type { Org } from '../store/orgs.js';
import type { RuleSet } from '../store/ruleSets.js';
import type { Store } from '../store/store.js';
import type { NewAuditEntry } from '../store/audit.js';
import { assertValidFilters } from './rules.js';
import { systemClock, type Clock } from './clock.js';

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
}

/** Everything a mint or refresh response needs; the API shapes it into the superset body. */
export interface IssuedToken {
  tokenId: string;
  password: string;
  username: string;
  orgId: string;
  userId: string;
  userRef: string;
  userEmail: string | null;
  issuedAt: number;
  expiresAt: number;
  ttlSeconds: number;
  /** issue time + 90 % of the TTL (SPEC) */
  refreshRecommendedAt: number;
  integrationId: string | null;
  replacedTokenIds: string[];
}

export type ConnectVerdict =
  | { ok: true; token: TokenRecord; user: User; org: Org; rights: EffectiveRights }
  /** The protocol codes are looked up in CONNECT_REFUSALS (shared/src/mqtt/reasonCodes.ts). */
  | { ok: false; reason: Extract<ConnectRefusal, 'malformed_username' | 'bad_credentials' | 'expired' | 'revoked'> };

const USER_ID_FORBIDDEN = /[/+#\u0000]/;
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+$/;

export const mqttUsername = (userRef: string, orgId: string) => `${userRef}@${orgId}`;

/** `<user_ref>@<org_id>`, split at the last `@` (org ids never contain one). */
export function parseMqttUsername(username: string): { userRef: string; orgId: string } | null {
  const at = username.lastIndexOf('@');
  if (at <= 0) return null;
  const orgId = username.slice(at + 1);
  if (!ORG_ID_PATTERN.test(orgId)) return null;
  return { userRef: username.slice(0, at), orgId };
}

/** Effective rights over `layers`, with placeholders expanded for `user` on connection `clientId`. */
const rightsFor = (layers: RuleLayer[], user: Pick<User, 'userId' | 'userEmail'>, clientId?: string): EffectiveRights => {
  const values = placeholderValuesOf(user, clientId);
  return new EffectiveRights(layers.map((l) => expandLayer(l, values)));
};

export const placeholderValuesOf = (user: Pick<User, 'userId' | 'userEmail'>, clientId?: string): PlaceholderValues => ({
  user_id: user.userId,
  ...(user.userEmail ? { user_email: user.userEmail } : {}),
  ...(clientId !== undefined ? { client_id: clientId } : {}),
});

export class TokenService {
  constructor(private readonly store: Store, private readonly clock: Clock = systemClock) {}

  mint(req: MintRequest, ctx: RequestContext = {}): IssuedToken {
    if (req.userId === undefined && req.userEmail === undefined) throw invalid('user_id', 'user_id or user_email is required');
    if (req.userId !== undefined && (req.userId.length === 0 || req.userId.length > 256 || USER_ID_FORBIDDEN.test(req.userId) || req.userId.startsWith('$'))) {
      throw invalid('user_id', "must be 1-256 characters without '/', '+', '#', NUL or a leading '$'");
    }
    if (req.userEmail !== undefined && (req.userEmail.length > 320 || !EMAIL_PATTERN.test(req.userEmail))) {
      throw invalid('user_email', 'must be an email address');
    }
    if (req.topics) assertValidFilters('topics', req.topics);
    if (req.acl?.publish) assertValidFilters('acl.publish', req.acl.publish);
    if (req.acl?.subscribe) assertValidFilters('acl.subscribe', req.acl.subscribe);

    const now = this.clock();
    return this.store.transaction(() => {
      const org = this.store.orgs.get(req.orgId);
      if (!org) throw notFound('organization_not_found', `organization ${req.orgId} not found`);
      const ttl = req.ttlSeconds ?? org.defaultTtlSeconds;
      if (!Number.isInteger(ttl) || ttl < org.minTtlSeconds || ttl > org.maxTtlSeconds) {
        throw invalid('ttl_seconds', `must be an integer within ${org.minTtlSeconds}-${org.maxTtlSeconds} seconds for this organization`);
      }
      const user = this.findOrCreateUser(org.id, req.userId, req.userEmail, now);
      const values = placeholderValuesOf(user);

      const upper = this.upperLayers(org.id, req.integrationId ?? null);
      const requested = layersFromRequest(req).map((l) => expandLayer(l, values, true));
      for (const want of requested) {
        for (const { layer, name } of upper) {
          const excess = excessOver(want, expandLayer(layer, values, true), name);
          if (excess) throw forbidden('scope_exceeds_organization', `requested scope exceeds what is allowed: ${excess}`);
        }
      }

      const replaced: string[] = [];
      if (req.replaceExisting) {
        for (const t of this.store.tokens.liveOfUser(org.id, user.userRef, now)) {
          this.revokeRecord(t, 'replaced', now, ctx);
          replaced.push(t.id);
        }
      }

      const password = newTokenPassword();
      const token = {
        id: newTokenId(), orgId: org.id, userRef: user.userRef, passwordHash: sha256Hex(password),
        integrationId: req.integrationId ?? null, scopes: requested, apiKeyId: ctx.apiKeyId ?? null,
        issuedAt: now, expiresAt: now + ttl * 1000,
      };
      this.store.tokens.insert(token);
      this.store.audit.record({ event: 'token.minted', orgId: org.id, userId: user.userId, userRef: user.userRef, tokenId: token.id,
        ip: ctx.ip, userAgent: ctx.userAgent, expiresAt: token.expiresAt,
        detail: { integration_id: token.integrationId, ttl_seconds: ttl, replaced: replaced.length || undefined } }, now);
      return this.issued(token, password, user, replaced);
    });
  }

  /**
   * `mint`, committed together with the other mints of this event-loop turn (group commit): for
   * request handlers, where concurrent requests would otherwise each pay a COMMIT. Settles after
   * the commit, so a resolved mint is as durable as one from `mint`.
   */
  mintGrouped(req: MintRequest, ctx: RequestContext = {}): Promise<IssuedToken> {
    return this.store.transactionGrouped(() => this.mint(req, ctx));
  }

  /** Rotates the password of a live token and extends its expiry by its TTL (proof of possession). */
  refresh(tokenId: string, currentPassword: string, ctx: RequestContext = {}): IssuedToken {
    const now = this.clock();
    // The failure is audited after the transaction has rolled back: recorded inside it, the row
    // would be undone by the very throw that reports the failure.
    let failedAudit: NewAuditEntry | null = null;
    const failure = (code: 'invalid_token_password' | 'token_expired' | 'token_revoked', message: string, t?: TokenRecord) => {
      failedAudit = { event: 'token.refresh_failed', orgId: t?.orgId, userRef: t?.userRef, tokenId, ip: ctx.ip, userAgent: ctx.userAgent, detail: { reason: code } };
      return new SignalGateError(code, message);
    };
    try {
      return this.refreshInTransaction(tokenId, currentPassword, ctx, now, failure);
    } catch (err) {
      if (failedAudit) this.store.audit.record(failedAudit, now);
      throw err;
    }
  }

  private refreshInTransaction(
    tokenId: string, currentPassword: string, ctx: RequestContext, now: number,
    failure: (code: 'invalid_token_password' | 'token_expired' | 'token_revoked', message: string, t?: TokenRecord) => SignalGateError,
  ): IssuedToken {
    return this.store.transaction(() => {
      const t = this.store.tokens.get(tokenId);
      if (!t) throw notFound('token_not_found', `token ${tokenId} not found`);
      const oldHash = sha256Hex(currentPassword);
      if (!TOKEN_PASSWORD_PATTERN.test(currentPassword) || !digestsEqual(oldHash, t.passwordHash)) {
        throw failure('invalid_token_password', 'current_token_password does not match this token', t);
      }
      const state = tokenState(t, now);
      if (state === 'revoked') throw failure('token_revoked', 'token has been revoked; mint a new one', t);
      if (state === 'expired') throw failure('token_expired', 'token has expired; mint a new one', t);

      const ttlMs = t.expiresAt - (t.refreshedAt ?? t.issuedAt);
      const password = newTokenPassword();
      const expiresAt = now + ttlMs;
      if (!this.store.tokens.rotate(t.id, oldHash, sha256Hex(password), expiresAt, now)) {
        throw failure('invalid_token_password', 'token was refreshed concurrently; use the newest password', t);
      }
      this.store.sessions.setExpiryOfToken(t.id, expiresAt);
      this.store.changes.append('token.refreshed', t.orgId, t.id, now);
      const user = this.store.users.byRef(t.orgId, t.userRef)!;
      this.store.audit.record({ event: 'token.refreshed', orgId: t.orgId, userId: user.userId, userRef: t.userRef, tokenId: t.id,
        ip: ctx.ip, userAgent: ctx.userAgent, expiresAt }, now);
      return this.issued({ ...t, issuedAt: now, expiresAt }, password, user, []);
    });
  }

  /** Revokes a token of `orgId`; live sessions using it are ended by the broker within a second. */
  revoke(orgId: string, tokenId: string, reason = 'revoked', ctx: RequestContext = {}): TokenRecord {
    const now = this.clock();
    return this.store.transaction(() => {
      const t = this.store.tokens.get(tokenId);
      if (!t || t.orgId !== orgId) throw notFound('token_not_found', `token ${tokenId} not found`);
      if (t.revokedAt === null) this.revokeRecord(t, reason, now, ctx);
      return this.store.tokens.get(tokenId)!;
    });
  }

  /** Revokes every live token of a user (e.g. the user left); returns the ids. */
  revokeUser(orgId: string, userRef: string, reason = 'revoked', ctx: RequestContext = {}): string[] {
    const now = this.clock();
    return this.store.transaction(() =>
      this.store.tokens.liveOfUser(orgId, userRef, now).map((t) => {
        this.revokeRecord(t, reason, now, ctx);
        return t.id;
      }),
    );
  }

  get(orgId: string, tokenId: string): TokenRecord {
    const t = this.store.tokens.get(tokenId);
    if (!t || t.orgId !== orgId) throw notFound('token_not_found', `token ${tokenId} not found`);
    return t;
  }

  /** Tokens of an org, or of one user (by user id, email or user_ref). */
  list(orgId: string, filter: { user?: string | undefined; liveOnly?: boolean | undefined } = {}): TokenRecord[] {
    const now = this.clock();
    if (filter.user !== undefined) {
      const user = this.findUser(orgId, filter.user);
      if (!user) return [];
      const all = this.store.tokens.listOfUser(orgId, user.userRef);
      return filter.liveOnly ? all.filter((t) => tokenState(t, now) === 'live') : all;
    }
    return this.store.tokens.listOfOrg(orgId, filter.liveOnly ?? false, now);
  }

  findUser(orgId: string, key: string): User | undefined {
    return this.store.users.byId(orgId, key) ?? this.store.users.byRef(orgId, key) ?? this.store.users.byEmail(orgId, key);
  }

  /**
   * The CONNECT decision (no argon2: one SHA-256 and one indexed read) and, when it admits, the
   * rights of the connection `clientId`. Unknown or mismatched credentials and a real credential that
   * is expired or revoked are different refusals: SDKs fetch fresh credentials on the second.
   */
  checkConnect(username: string | undefined, password: Buffer | string | undefined, clientId?: string): ConnectVerdict {
    const parsed = username ? parseMqttUsername(username) : null;
    if (!parsed) return { ok: false, reason: 'malformed_username' };
    const pw = typeof password === 'string' ? password : password?.toString('utf8');
    if (!pw || !TOKEN_PASSWORD_PATTERN.test(pw)) return { ok: false, reason: 'bad_credentials' };
    const found = this.store.connectRecords.byPasswordHash(sha256Hex(pw));
    if (!found || found.token.orgId !== parsed.orgId || found.token.userRef !== parsed.userRef) {
      return { ok: false, reason: 'bad_credentials' };
    }
    const { token, user, org } = found;
    const state = tokenState(token, this.clock());
    if (state !== 'live') return { ok: false, reason: state };
    if (!user || !org) return { ok: false, reason: 'revoked' };
    const rights = rightsFor(tokenLayers(found.defaultRules, found.integrationRules, token.scopes), user, clientId);
    return { ok: true, token, user, org, rights };
  }

  /**
   * The layers a token's rights are the intersection of, read now: org default, the integration's
   * rule set, then the token's own scopes. A deleted integration leaves a layer that grants nothing.
   */
  layersOf(token: Pick<TokenRecord, 'orgId' | 'integrationId' | 'scopes'>): RuleLayer[] {
    const integrationRules = token.integrationId === null ? undefined : this.integrationRuleSet(token.orgId, token.integrationId) ?? null;
    return tokenLayers(this.store.ruleSets.getDefault(token.orgId), integrationRules, token.scopes);
  }

  /**
   * What this token may do now, for `user`, on the connection `clientId` (placeholders expanded;
   * without a client id, as on an HTTP call, rules using `${client_id}` grant nothing).
   */
  rightsOf(token: Pick<TokenRecord, 'orgId' | 'integrationId' | 'scopes'>, user: Pick<User, 'userId' | 'userEmail'>, clientId?: string): EffectiveRights {
    return rightsFor(this.layersOf(token), user, clientId);
  }

  /**
   * The rights of a token as they stand now, for its user on the connection `clientId`; null when
   * the token is no longer live (revoked, expired, gone) or its user is gone. For sessions whose
   * rights must be re-read: after a rule change, and for a will published after the connection.
   */
  liveRightsOf(tokenId: string, orgId: string, userRef: string, clientId: string): EffectiveRights | null {
    const token = this.store.tokens.get(tokenId);
    const user = this.store.users.byRef(orgId, userRef);
    if (!token || !user || tokenState(token, this.clock()) !== 'live') return null;
    return this.rightsOf(token, user, clientId);
  }

  /** The layers a mint request must stay within, named for a 403; an unknown integration is a 404. */
  private upperLayers(orgId: string, integrationId: string | null): { layer: RuleLayer; name: string }[] {
    const def = this.store.ruleSets.getDefault(orgId);
    const layers = [{ layer: def ? layerOfRules(def) : DENY_ALL, name: "the organization's default rule set" }];
    if (integrationId !== null) {
      const rs = this.integrationRuleSet(orgId, integrationId);
      if (!rs) throw notFound('integration_not_found', `integration '${integrationId}' not found in ${orgId}`);
      layers.push({ layer: layerOfRules(rs), name: `integration '${integrationId}'` });
    }
    return layers;
  }

  private integrationRuleSet(orgId: string, integrationId: string): RuleSet | undefined {
    const integration = this.store.integrations.get(orgId, integrationId);
    return integration && this.store.ruleSets.get(orgId, integration.ruleSetId);
  }

  private findOrCreateUser(orgId: string, userId: string | undefined, userEmail: string | undefined, now: number): User {
    const existing = userId !== undefined ? this.store.users.byId(orgId, userId) : this.store.users.byEmail(orgId, userEmail!);
    if (existing) {
      if (userEmail !== undefined && existing.userEmail !== userEmail) {
        this.store.users.setEmail(orgId, existing.userRef, userEmail);
        return { ...existing, userEmail };
      }
      return existing;
    }
    const userRef = newUserRef();
    // Email-only mints (seed 000) get the user_ref as their stable user id: always placeholder-safe.
    const user: User = { orgId, userRef, userId: userId ?? userRef, userEmail: userEmail ?? null, createdAt: now };
    this.store.users.insert(user);
    return user;
  }

  private revokeRecord(t: TokenRecord, reason: string, now: number, ctx: RequestContext): void {
    this.store.tokens.revoke(t.id, reason, now);
    this.store.changes.append('token.revoked', t.orgId, t.id, now);
    const user = this.store.users.byRef(t.orgId, t.userRef);
    this.store.audit.record({ event: 'token.revoked', orgId: t.orgId, userId: user?.userId, userRef: t.userRef, tokenId: t.id,
      ip: ctx.ip, userAgent: ctx.userAgent, expiresAt: t.expiresAt, detail: { reason } }, now);
  }

  private issued(t: Pick<TokenRecord, 'id' | 'orgId' | 'userRef' | 'integrationId' | 'issuedAt' | 'expiresAt'>, password: string, user: User, replaced: string[]): IssuedToken {
    const ttlMs = t.expiresAt - t.issuedAt;
    return {
      tokenId: t.id, password, username: mqttUsername(t.userRef, t.orgId), orgId: t.orgId, userId: user.userId,
      userRef: t.userRef, userEmail: user.userEmail, issuedAt: t.issuedAt, expiresAt: t.expiresAt,
      ttlSeconds: Math.round(ttlMs / 1000), refreshRecommendedAt: t.issuedAt + Math.floor(ttlMs * 0.9),
      integrationId: t.integrationId, replacedTokenIds: replaced,
    };
  }
}
