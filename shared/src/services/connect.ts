// The decision a credential is judged on wherever it is presented: at CONNECT (the broker) and as
// a Bearer tkn_ password (the API's presence and history reads). No argon2 here: an MQTT password
// is 256 random bits, so one SHA-256 and one indexed read decide it.
import type { ConnectRefusal } from '../mqtt/reasonCodes.js';
import { ORG_ID_PATTERN, TOKEN_PASSWORD_PATTERN } from '../credentials/secrets.js';
import { sha256Hex } from '../credentials/hashing.js';
import { EffectiveRights, expandLayer, tokenLayers, type RuleLayer } from '../acl/rights.js';
import type { PlaceholderValues } from '../acl/placeholders.js';
import { tokenState, type TokenRecord } from '../store/tokens.js';
import type { User } from '../store/users.js';
import type { Org } from '../store/orgs.js';
import type { RuleSet } from '../store/ruleSets.js';
import type { Store } from '../store/store.js';
import { systemClock, type Clock } from './clock.js';

export type ConnectVerdict =
  | { ok: true; token: TokenRecord; user: User; org: Org; rights: EffectiveRights }
  /** The protocol codes are looked up in CONNECT_REFUSALS (shared/src/mqtt/reasonCodes.ts). */
  | { ok: false; reason: Extract<ConnectRefusal, 'malformed_username' | 'bad_credentials' | 'expired' | 'revoked'> };

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

/** Effective rights over `layers`, with placeholders expanded for `user` on connection `clientId`. */
const rightsFor = (layers: RuleLayer[], user: Pick<User, 'userId' | 'userEmail'>, clientId?: string): EffectiveRights => {
  const values = placeholderValuesOf(user, clientId);
  return new EffectiveRights(layers.map((l) => expandLayer(l, values)));
};

export class ConnectService {
  constructor(private readonly store: Store, private readonly clock: Clock = systemClock) {}

  /**
   * The CONNECT decision and, when it admits, the rights of the connection `clientId`. Unknown or
   * mismatched credentials and a real credential that is expired or revoked are different refusals:
   * SDKs fetch fresh credentials on the second. Any password the token still keeps opens it (an
   * SDK reconnects with the password of its first CONNECT after refreshes).
   */
  checkConnect(username: string | undefined, password: Buffer | string | undefined, clientId?: string): ConnectVerdict {
    const parsed = username ? parseMqttUsername(username) : null;
    if (!parsed) return { ok: false, reason: 'malformed_username' };
    const verdict = this.checkPassword(password, clientId);
    if (verdict.ok && (verdict.token.orgId !== parsed.orgId || verdict.token.userRef !== parsed.userRef)) {
      return { ok: false, reason: 'bad_credentials' };
    }
    return verdict;
  }

  /** A tkn_ password alone (HTTP Bearer): whose token it is, whether it is live, and its rights. */
  checkPassword(password: Buffer | string | undefined, clientId?: string): ConnectVerdict {
    const pw = typeof password === 'string' ? password : password?.toString('utf8');
    if (!pw || !TOKEN_PASSWORD_PATTERN.test(pw)) return { ok: false, reason: 'bad_credentials' };
    const found = this.store.connectRecords.byPasswordHash(sha256Hex(pw));
    if (!found) return { ok: false, reason: 'bad_credentials' };
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

  /** The rule set of an integration of `orgId`, if both still exist. */
  integrationRuleSet(orgId: string, integrationId: string): RuleSet | undefined {
    const integration = this.store.integrations.get(orgId, integrationId);
    return integration && this.store.ruleSets.get(orgId, integration.ruleSetId);
  }
}
