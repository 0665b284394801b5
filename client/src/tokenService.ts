// The token-service calls the SDK makes: mint with a secret key (server side only), exchange an
// external token (an identity provider's JWT or a SignalGate access_token, the official SDK's
// `externalToken`), refresh by proof of possession, and list the organisation's identity providers.
import { CloudSignalError, TOKEN_ERRORS, tokenErrorTypeOf } from './errors.js';

export interface TokenCredentials {
  username: string;
  password: string;
  tokenId: string;
  organizationId: string;
  expiresAt: number;
  refreshAt: number;
  /** `cloudsignal` for key-minted tokens, else the identity provider's name. */
  provider: string | null;
}

/** One entry of `GET /v2/providers`, as the server answers it (the official SDK returns it as is). */
export interface ProviderInfo {
  provider: string;
  type: string;
  issuer: string;
  audience: string | null;
  jwks_url: string | null;
  enabled: boolean;
}

// The server's rule (shared/src/services/tokens.ts): anything else is sent as user_id.
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+$/;
export const isEmailAddress = (s: string) => s.length <= 320 && EMAIL_PATTERN.test(s);

type Json = Record<string, unknown>;

export class TokenServiceClient {
  constructor(readonly baseUrl: string, private readonly fetchImpl: typeof fetch = (...a) => globalThis.fetch(...a)) {}

  /** `POST /v2/tokens` with `Authorization: Bearer sk_…`; a non-email `user` is sent as user_id. */
  async mint(secretKey: string, req: { organizationId?: string; user: string; ttlSeconds?: number; integrationId?: string }): Promise<TokenCredentials> {
    const body: Json = {
      ...(isEmailAddress(req.user) ? { user_email: req.user } : { user_id: req.user }),
      ...(req.organizationId ? { organization_id: req.organizationId } : {}),
      ...(req.ttlSeconds ? { ttl_seconds: req.ttlSeconds } : {}),
      ...(req.integrationId ? { integration_id: req.integrationId } : {}),
    };
    return credentialsOf(await this.call('POST', '/v2/tokens', { bearer: secretKey, body }));
  }

  /**
   * `POST /v2/tokens/exchange`: an identity provider's JWT (verified against the organisation's
   * configured provider) or a SignalGate access_token of that organisation (answered with its own
   * credentials) in, MQTT credentials out. `organizationId` is the short id or the UUID.
   */
  async exchange(req: { organizationId: string; token: string; integrationId?: string }): Promise<TokenCredentials> {
    const body: Json = {
      organization_id: req.organizationId,
      token: req.token,
      ...(req.integrationId ? { integration_id: req.integrationId } : {}),
    };
    return credentialsOf(await this.call('POST', '/v2/tokens/exchange', { body }));
  }

  /** `POST /v2/tokens/refresh`: a new password for the same token, a later expiry. */
  async refresh(tokenId: string, currentPassword: string): Promise<TokenCredentials> {
    return credentialsOf(await this.call('POST', '/v2/tokens/refresh', { body: { token_id: tokenId, current_token_password: currentPassword } }));
  }

  /** `GET /v2/providers?organization_id=`: the identity providers whose JWTs `exchange` accepts (no secrets). */
  async providers(organizationId: string): Promise<ProviderInfo[]> {
    const r = await this.call('GET', `/v2/providers?organization_id=${encodeURIComponent(organizationId)}`, {});
    if (!Array.isArray(r.providers)) {
      throw new CloudSignalError('invalid_token_response', 'token service answered GET /v2/providers without a providers array', undefined, TOKEN_ERRORS.INVALID_RESPONSE);
    }
    return r.providers as ProviderInfo[];
  }

  private async call(method: string, path: string, { bearer, body }: { bearer?: string; body?: Json }): Promise<Json> {
    const headers: Record<string, string> = {};
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (body) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.baseUrl.replace(/\/+$/, '')}${path}`, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) });
    } catch (err) {
      throw new CloudSignalError('token_service_unreachable', `token service ${this.baseUrl} unreachable: ${(err as Error).message}`, undefined, TOKEN_ERRORS.NETWORK_ERROR);
    }
    const text = await res.text();
    let json: Json = {};
    try {
      json = text ? (JSON.parse(text) as Json) : {};
    } catch {
      // Not JSON (a proxy's error page): report the status below.
    }
    if (!res.ok) {
      // `{error: <machine code>, error_description, detail}`, read as the official SDK reads it.
      const code = typeof json.error === 'string' ? json.error : undefined;
      const description = [json.error_description, json.detail].find((t) => typeof t === 'string' && t !== '') as string | undefined;
      const route = `${method} ${path.split('?')[0]}`;
      throw new CloudSignalError(code ?? `http_${res.status}`, `${description ?? `HTTP ${res.status}`} (${route})`, res.status, tokenErrorTypeOf(res.status, code));
    }
    return json;
  }
}

function credentialsOf(r: Json): TokenCredentials {
  const creds = (r.mqtt_credentials ?? {}) as Json;
  const username = (creds.username ?? r.username) as string | undefined;
  const password = (creds.password ?? r.password ?? r.access_token) as string | undefined;
  const tokenId = r.token_id as string | undefined;
  const expiresAt = Date.parse(String(r.expires_at));
  const refreshAt = Date.parse(String(r.refresh_recommended_at));
  if (!username || !password || !tokenId || Number.isNaN(expiresAt)) {
    throw new CloudSignalError('invalid_token_response', 'token service answered without username, password, token_id or expires_at', undefined, TOKEN_ERRORS.INVALID_RESPONSE);
  }
  return {
    username, password, tokenId,
    organizationId: String(r.organization_id ?? username.slice(username.lastIndexOf('@') + 1)),
    expiresAt,
    refreshAt: Number.isNaN(refreshAt) ? expiresAt : refreshAt,
    provider: typeof r.provider === 'string' ? r.provider : null,
  };
}
