// A real OpenID provider (panva's oidc-provider) on loopback, for suites that verify identity-provider
// JWTs. Tokens come out of the provider's own token endpoint, signed by its own keystore, and are
// checked against its own jwks_uri: nothing here signs a token or serves a key set by hand.
//
// Tokens are issued through a test-only grant (`provider.registerGrantType`), because the standard
// grants cannot say which `sub`/`email` to put in a token. The grant issues a JWT-format
// ClientCredentials access token, and the provider's documented `formats.customizers.jwt` hook
// shapes its claims (sub, email, aud, exp, nbf) before the provider signs it.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type OidcSigningAlg = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

export interface IssueTokenOptions {
  sub: string;
  email?: string;
  /** `aud`; defaults to the provider's `defaultAudience`. */
  audience?: string;
  /** Seconds from now until `exp` (default 300); negative gives an already-expired token. */
  expiresIn?: number;
  /** Leave `exp` out entirely. */
  omitExp?: boolean;
  /** Seconds from now for `nbf` (absent by default). */
  notBefore?: number;
  /** Signing algorithm (default RS256); the provider holds one RSA, one P-256 and one Ed25519 key. */
  alg?: OidcSigningAlg;
  /** More claims, merged last (so they may override any of the above). */
  claims?: Record<string, unknown>;
}

export interface OidcTestProvider {
  /** `iss` of every token, e.g. `http://127.0.0.1:54321`. */
  readonly issuer: string;
  /** The provider's jwks_uri, as its discovery document names it. */
  readonly jwksUrl: string;
  readonly discoveryUrl: string;
  readonly defaultAudience: string;
  /** `kid` of the current signing key for `alg` (changes on rotateKeys). */
  kidOf(alg?: OidcSigningAlg): string;
  /** A token signed by the provider, obtained from its token endpoint over HTTP. */
  issueToken(opts: IssueTokenOptions): Promise<string>;
  /** Restarts the provider on the same port with fresh keys: new kids appear, the old ones vanish. */
  rotateKeys(): Promise<void>;
  close(): Promise<void>;
}

const GRANT_TYPE = 'urn:signalgate:test:issue-identity-token';
const GRANT_PARAMS = ['sub', 'email', 'audience', 'expires_in', 'omit_exp', 'not_before', 'alg', 'extra_claims'];
const CLIENT_ID = 'signalgate-tests';

/** The members of oidc-provider this fixture uses (the package ships no type declarations). */
interface ProviderInstance {
  registerGrantType(name: string, handler: (ctx: GrantContext) => Promise<void>, params: string[]): void;
  callback(): http.RequestListener;
  ClientCredentials: new (init: { client: unknown; resourceServer: unknown; expiresIn: number }) => {
    save(): Promise<string>;
    expiration: number;
  };
  ResourceServer: new (identifier: string, data: { scope: string; audience: string; accessTokenFormat: 'jwt'; jwt: { sign: { alg: string } } }) => unknown;
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;
interface GrantContext {
  oidc: { params: Record<string, string | undefined>; client: unknown };
  body: unknown;
}
interface JwtCustomizerInput {
  payload: Record<string, unknown>;
  header: Record<string, unknown> | undefined;
}

let providerClass: Promise<ProviderConstructor> | undefined;

/**
 * oidc-provider 9 warns "Unsupported runtime. Use Node.js v22.x LTS" when imported on Node 20. It does
 * run on Node 20.20 (the suites exercise discovery, jwks and the token endpoint), so that one notice
 * is dropped; any other warning still gets through.
 */
function loadProviderClass(): Promise<ProviderConstructor> {
  providerClass ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
      warn(...args);
    };
    try {
      // @ts-expect-error -- oidc-provider ships no declarations; ProviderConstructor types what is used
      const mod = (await import('oidc-provider')) as { default: ProviderConstructor };
      return mod.default;
    } finally {
      console.warn = warn;
    }
  })();
  return providerClass;
}

/** The adapter interface oidc-provider documents, over a Map; its own MemoryAdapter prints a warning. */
function mapAdapter() {
  const rows = new Map<string, Record<string, unknown>>();
  return class MapAdapter {
    constructor(private readonly model: string) {}
    private key(id: string) {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>) {
      rows.set(this.key(id), payload);
    }
    async find(id: string) {
      return rows.get(this.key(id));
    }
    async findByUid(uid: string) {
      return [...rows.values()].find((p) => p['uid'] === uid);
    }
    async findByUserCode(userCode: string) {
      return [...rows.values()].find((p) => p['userCode'] === userCode);
    }
    async consume(id: string) {
      const row = rows.get(this.key(id));
      if (row) row['consumed'] = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      rows.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [k, p] of rows) if (p['grantId'] === grantId) rows.delete(k);
    }
  };
}

interface SigningKeys {
  jwks: { keys: crypto.JsonWebKey[] };
  kids: Record<OidcSigningAlg, string>;
}

function freshSigningKeys(): SigningKeys {
  const kidFor = (label: string) => `${label}-${crypto.randomBytes(6).toString('hex')}`;
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const ed = crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  const rsaKid = kidFor('rsa');
  const ecKid = kidFor('ec');
  const edKid = kidFor('ed');
  return {
    jwks: {
      keys: [
        { ...rsa, kid: rsaKid, use: 'sig' },
        { ...ec, kid: ecKid, use: 'sig' },
        { ...ed, kid: edKid, use: 'sig' },
      ],
    },
    // RS256 and PS256 both sign with the RSA key.
    kids: { RS256: rsaKid, PS256: rsaKid, ES256: ecKid, EdDSA: edKid },
  };
}

const numberParam = (value: string | undefined): number | undefined => (value === undefined || value === '' ? undefined : Number(value));

export async function startOidcProvider(opts: { defaultAudience?: string } = {}): Promise<OidcTestProvider> {
  const Provider = await loadProviderClass();
  const defaultAudience = opts.defaultAudience ?? 'signalgate-tests';
  const clientSecret = crypto.randomBytes(32).toString('base64url');
  let keys = freshSigningKeys();
  let server: http.Server | undefined;
  let port = 0;
  let issuer = '';

  // What the current request asked for, keyed by the token object the grant handler creates, so
  // the JWT customizer (called while that token is being signed) can apply it.
  const requested = new WeakMap<object, Record<string, string | undefined>>();

  const build = (iss: string) => {
    const provider = new Provider(iss, {
      jwks: keys.jwks,
      adapter: mapAdapter(),
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: clientSecret,
          grant_types: [GRANT_TYPE],
          redirect_uris: [],
          response_types: [],
          token_endpoint_auth_method: 'client_secret_post',
        },
      ],
      features: { devInteractions: { enabled: false } },
      ttl: { ClientCredentials: (_ctx: unknown, token: { expiresIn?: number }) => token.expiresIn ?? 300 },
      enabledJWA: { idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'] },
      formats: {
        customizers: {
          jwt: async (_ctx: unknown, token: object, jwt: JwtCustomizerInput) => {
            const p = requested.get(token);
            if (!p) return;
            const now = Math.floor(Date.now() / 1000);
            const payload = jwt.payload;
            payload['sub'] = p['sub'];
            if (p['email'] !== undefined) payload['email'] = p['email'];
            delete payload['client_id'];
            delete payload['scope'];
            const expiresIn = numberParam(p['expires_in']);
            if (p['omit_exp'] === 'true') delete payload['exp'];
            else if (expiresIn !== undefined) payload['exp'] = now + expiresIn;
            const notBefore = numberParam(p['not_before']);
            if (notBefore !== undefined) payload['nbf'] = now + notBefore;
            if (p['extra_claims']) Object.assign(payload, JSON.parse(p['extra_claims']) as Record<string, unknown>);
          },
        },
      },
    });
    provider.registerGrantType(
      GRANT_TYPE,
      async (ctx) => {
        const p = ctx.oidc.params;
        const alg = p['alg'] || 'RS256';
        const token = new provider.ClientCredentials({
          client: ctx.oidc.client,
          resourceServer: new provider.ResourceServer('urn:signalgate:tests', {
            scope: '',
            audience: p['audience'] || defaultAudience,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          }),
          // The provider wants a positive lifetime; the customizer writes the requested exp.
          expiresIn: Math.max(1, numberParam(p['expires_in']) ?? 300),
        });
        requested.set(token, p);
        const value = await token.save();
        ctx.body = { access_token: value, token_type: 'Bearer', expires_in: token.expiration };
      },
      GRANT_PARAMS,
    );
    return provider;
  };

  const listen = async (onPort: number) => {
    const s = http.createServer();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(onPort, '127.0.0.1', () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    issuer = `http://127.0.0.1:${port}`;
    const app = build(issuer).callback();
    // One request per connection: a pooled keep-alive socket to the instance rotateKeys just closed
    // would otherwise fail the next fetch ("other side closed").
    s.on('request', (req, res) => {
      res.setHeader('connection', 'close');
      void app(req, res);
    });
    server = s;
  };

  const stop = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen(0);
  const discoveryUrl = `${issuer}/.well-known/openid-configuration`;
  const discovery = (await (await fetch(discoveryUrl)).json()) as { jwks_uri: string; token_endpoint: string; issuer: string };
  if (discovery.issuer !== issuer) throw new Error(`oidc-provider fixture: discovery names issuer ${discovery.issuer}, expected ${issuer}`);

  return {
    issuer,
    jwksUrl: discovery.jwks_uri,
    discoveryUrl,
    defaultAudience,
    kidOf: (alg = 'RS256') => keys.kids[alg],
    async issueToken(o) {
      const form = new URLSearchParams({ grant_type: GRANT_TYPE, client_id: CLIENT_ID, client_secret: clientSecret, sub: o.sub });
      if (o.email !== undefined) form.set('email', o.email);
      if (o.audience !== undefined) form.set('audience', o.audience);
      if (o.expiresIn !== undefined) form.set('expires_in', String(o.expiresIn));
      if (o.omitExp) form.set('omit_exp', 'true');
      if (o.notBefore !== undefined) form.set('not_before', String(o.notBefore));
      if (o.alg !== undefined) form.set('alg', o.alg);
      if (o.claims !== undefined) form.set('extra_claims', JSON.stringify(o.claims));
      const res = await fetch(discovery.token_endpoint, { method: 'POST', body: form });
      const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (res.status !== 200 || typeof body.access_token !== 'string') {
        throw new Error(`oidc-provider fixture: token endpoint answered ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
      }
      return body.access_token;
    },
    async rotateKeys() {
      await stop();
      keys = freshSigningKeys();
      await listen(port);
    },
    close: stop,
  };
}
