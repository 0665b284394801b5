// POST /v2/tokens/exchange: an identity provider's JWT (or a SignalGate access_token) in, MQTT
// credentials out. The JWT's unverified `iss` only picks which of the org's providers verifies it;
// nothing in it is trusted before that provider's keys have verified the signature.
import { SignalGateError } from '../errors.js';
import { credentialKindOf } from '../credentials/secrets.js';
import { IdentityVerifier, unverifiedIssuerOf } from '../identity/index.js';
import type { Store } from '../store/types.js';
import type { ConnectService } from './connect.js';
import type { IssuedToken, RequestContext, TokenService } from './tokens.js';

export interface ExchangeRequest {
  /** The organisation's short id (resolved from either id by the caller). */
  orgId: string;
  token: string;
  integrationId?: string | undefined;
  /**
   * Runs once the JWT verified, before the mint (a rate limit): charged before verification,
   * anyone could spend an organisation's budget with garbage tokens.
   */
  beforeMint?: (() => Promise<void>) | undefined;
}

/** Issuer text echoed in an error comes from an unverified token: bounded. */
const shown = (s: string) => (s.length > 120 ? `${s.slice(0, 120)}…` : s);

export class ExchangeService {
  constructor(
    private readonly store: Store,
    private readonly tokens: TokenService,
    private readonly connect: ConnectService,
    readonly verifier: IdentityVerifier = new IdentityVerifier(),
  ) {}

  /**
   * Every exchange leaves an audit row: a JWT's mint is `token.minted` (detail names the provider),
   * an access_token answered again is `token.exchanged`, a refusal is `token.exchange_failed`.
   */
  async exchange(req: ExchangeRequest, ctx: RequestContext = {}): Promise<{ issued: IssuedToken; minted: boolean }> {
    try {
      switch (credentialKindOf(req.token)) {
        case 'mqtt_password':
          return { issued: await this.ownToken(req, ctx), minted: false };
        case 'jwt':
          return { issued: await this.identityToken(req, ctx), minted: true };
        default:
          throw new SignalGateError('invalid_token', 'token must be a JWT from a configured identity provider or a SignalGate access_token');
      }
    } catch (err) {
      if (err instanceof SignalGateError) {
        await this.store.audit.record({ event: 'token.exchange_failed', orgId: req.orgId, ip: ctx.ip, userAgent: ctx.userAgent, detail: { reason: err.code } }, Date.now());
      }
      throw err;
    }
  }

  /** A SignalGate access_token of this org: its own credentials, answered again (nothing minted). */
  private async ownToken(req: ExchangeRequest, ctx: RequestContext): Promise<IssuedToken> {
    const verdict = await this.connect.checkPassword(req.token);
    if (!verdict.ok) {
      if (verdict.reason === 'expired') throw new SignalGateError('token_expired', 'the access_token has expired; mint a new one');
      throw new SignalGateError('invalid_token', 'the access_token is not a live SignalGate credential');
    }
    const { token, user } = verdict;
    if (token.orgId !== req.orgId) throw new SignalGateError('invalid_token', 'the access_token belongs to another organization');
    await this.store.audit.record({ event: 'token.exchanged', orgId: token.orgId, userId: user.userId, userRef: token.userRef, tokenId: token.id,
      ip: ctx.ip, userAgent: ctx.userAgent, expiresAt: token.expiresAt }, Date.now());
    return this.tokens.describe(token, req.token);
  }

  private async identityToken(req: ExchangeRequest, ctx: RequestContext): Promise<IssuedToken> {
    const issuer = unverifiedIssuerOf(req.token);
    if (issuer === null) throw new SignalGateError('invalid_token', 'token is not a JWT with an iss claim');
    const provider = await this.store.providers.byIssuer(req.orgId, issuer);
    if (!provider) throw new SignalGateError('provider_not_found', `no identity provider with issuer ${shown(issuer)} is configured for ${req.orgId}`);
    const identity = await this.verifier.verify(provider, req.token);
    await req.beforeMint?.();
    return this.tokens.mint({
      orgId: req.orgId,
      userId: identity.userId,
      userEmail: identity.email ?? undefined,
      integrationId: req.integrationId,
      provider: provider.name,
    }, ctx);
  }
}
