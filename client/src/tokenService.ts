// The three token-service calls the SDK makes: mint with a secret key (server side only), describe
// a bare tkn_ password (`GET /v2/tokens/self`), and refresh by proof of possession.
import { CloudSignalError } from './errors.js';

export interface TokenCredentials {
  username: string;
  password: string;
  tokenId: string;
  organizationId: string;
  expiresAt: number;
  refreshAt: number;
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

  /** `GET /v2/tokens/self`: username, token id and times of a bare password (seeds 000/002). */
  async describe(password: string): Promise<TokenCredentials> {
    const r = await this.call('GET', '/v2/tokens/self', { bearer: password });
    return credentialsOf({ ...r, password });
  }

  /** `POST /v2/tokens/refresh`: a new password for the same token, a later expiry. */
  async refresh(tokenId: string, currentPassword: string): Promise<TokenCredentials> {
    return credentialsOf(await this.call('POST', '/v2/tokens/refresh', { body: { token_id: tokenId, current_token_password: currentPassword } }));
  }

  private async call(method: string, path: string, { bearer, body }: { bearer?: string; body?: Json }): Promise<Json> {
    const headers: Record<string, string> = {};
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (body) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.baseUrl.replace(/\/+$/, '')}${path}`, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) });
    } catch (err) {
      throw new CloudSignalError('token_service_unreachable', `token service ${this.baseUrl} unreachable: ${(err as Error).message}`);
    }
    const text = await res.text();
    let json: Json = {};
    try {
      json = text ? (JSON.parse(text) as Json) : {};
    } catch {
      // Not JSON (a proxy's error page): report the status below.
    }
    if (!res.ok) {
      const code = typeof json.code === 'string' ? json.code : `http_${res.status}`;
      const message = typeof json.error === 'string' ? json.error : `HTTP ${res.status}`;
      throw new CloudSignalError(code, `${message} (${method} ${path})`, res.status);
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
    throw new CloudSignalError('invalid_token_response', 'token service answered without username, password, token_id or expires_at');
  }
  return {
    username, password, tokenId,
    organizationId: String(r.organization_id ?? username.slice(username.lastIndexOf('@') + 1)),
    expiresAt,
    refreshAt: Number.isNaN(refreshAt) ? expiresAt : refreshAt,
  };
}
