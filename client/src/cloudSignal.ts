// CloudSignal's documented client (seeds 000, 001, 002): token acquisition with a secret key
// (server side) or by exchanging an external token (browser: an identity provider's JWT, or an
// access_token your server minted), automatic refresh before `refresh_recommended_at`, and a
// connection that keeps its subscriptions through all of it.
import { defaultTokenServiceUrl, resolveBrokerAddress, type Scheme } from './endpoint.js';
import { isBrowserEnvironment, pageLocation, userAgent } from './environment.js';
import { CloudSignalError, TOKEN_ERRORS, type TokenErrorType } from './errors.js';
import { randomClientId } from './ids.js';
import { PRESETS, resolvePresetName, type PresetName, type PresetOption, type ProtocolVersion } from './presets.js';
import { refreshDelayMs } from './refreshSchedule.js';
import { TokenServiceClient, type ProviderInfo, type TokenCredentials } from './tokenService.js';
import { RealtimeClient, type ConnectionStatus, type PublishOptions, type QoS } from './realtimeClient.js';
import type { ReceivedMessage, ReplyOptions, RequestOptions, RequestReply } from './requests.js';
import type { RetryBackoff } from './backoff.js';

export interface CloudSignalOptions {
  /**
   * MQTT version, keepalive, reconnect pacing and request defaults, as the official SDK sets them:
   * 'desktop', 'mobile' (MQTT 3.1.1), 'agent', 'server', or 'auto' (the default: desktop in a
   * browser, mobile in a phone's browser, server in Node).
   */
  preset?: PresetOption;
  /** 5 (MQTT 5.0) or 4 (MQTT 3.1.1). Default: the preset's. */
  protocolVersion?: ProtocolVersion;
  /** Stable per client instance; the broker keeps this session's subscriptions across reconnects. Default: `cs_` + 8 random characters. */
  clientId?: string;
  /** Renew the token before `refresh_recommended_at`. Default true. */
  autoRefresh?: boolean;
  /** Renew this many seconds before `refresh_recommended_at` (never earlier than half the remaining lifetime). Default 60. */
  refreshBufferSeconds?: number;
  /** The token API. Default: http(s)://<page host or broker host or localhost>:8080. */
  tokenServiceUrl?: string;
  keepaliveSeconds?: number;
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  /** Default false (persistent session). */
  clean?: boolean;
  /** MQTT 5: how long the broker keeps the persistent session after a disconnect, seconds. Default 3600; 0 is what the official SDK sends. */
  sessionExpirySeconds?: number;
  /** How long `request()` waits for a reply. Default: the preset's (30 s; 60 s in `server`). */
  requestTimeoutMs?: number;
  /** Message Expiry Interval of requests and replies, seconds. Default: the preset's (300 in `agent`, else none). */
  messageExpirySeconds?: number;
  /** Where replies to `request()` arrive; `{clientId}` is replaced. Default `response/{clientId}`. */
  responseTopicPattern?: string;
  /** Backoff between failed credential recoveries. Default {baseSeconds: 1, ceilSeconds: 60}. */
  retryBackoff?: Partial<RetryBackoff>;
  /** Pause between fresh credentials and reconnecting after a broker refusal. Default 2 s. */
  authRetryDelaySeconds?: number;
  /**
   * After a refresh, move the session to the new password at once (clean disconnect, resume with the
   * same client id) instead of using it from the next reconnect. Default false; turn it on for a
   * broker that ends sessions at their original expiry.
   */
  reconnectOnRefresh?: boolean;
  /** Retry pause after a failed refresh, seconds (capped at half the remaining lifetime). Default 30. */
  refreshRetrySeconds?: number;
  fetch?: typeof fetch;
}

export interface ConnectWithTokenOptions {
  /** Broker host, `host:port`, or a URL such as `ws://host:8083/mqtt`. Default: see README. */
  host?: string;
  port?: number;
  /** mqtt, mqtts, ws or wss. Default: ws/wss in a browser (by page protocol), mqtt in Node. */
  protocol?: Scheme | 'tcp' | 'tls';
  /** WebSocket path. Default `/mqtt`. */
  path?: string;
  /** The organisation's short id (`org_…`) or UUID. Required with `externalToken`. */
  organizationId?: string;
  /** sk_/cs_ key: Node only. The SDK mints its own tokens with it. */
  secretKey?: string;
  /**
   * Exchanged for MQTT credentials through `POST /v2/tokens/exchange` with `organizationId`, as the
   * official SDK does: an identity provider's JWT (Supabase `session.access_token`, Clerk
   * `getToken()`, Auth0, Firebase `getIdToken()`, any OIDC) that the organisation has configured,
   * or an `access_token` (`tkn_…`) your server minted for that organisation (seeds 000/002).
   */
  externalToken?: string;
  /** @deprecated The official SDK's old name of `externalToken`; `externalToken` wins when both are given. */
  idToken?: string;
  /** Who the minted token is for (secretKey only). An email is sent as user_email, anything else as user_id. Default: the client id. */
  userEmail?: string;
  userId?: string;
  ttlSeconds?: number;
  integrationId?: string;
}

export interface TokenInfo {
  tokenId: string;
  username: string;
  organizationId: string;
  /** `cloudsignal` for key-minted tokens, else the identity provider that vouched for the user. */
  provider: string | null;
  expiresAt: Date;
  refreshAt: Date;
}

/**
 * As the official SDK's: the error, and its type (TOKEN_ERRORS): the classification of a failed
 * create or exchange, REFRESH_FAILED for a failed refresh.
 */
type TokenErrorCallback = (err: CloudSignalError, type: TokenErrorType) => void;

/** `received` carries the MQTT 5 properties: pass it to `respond()` to answer a request. */
type MessageCallback = (topic: string, message: unknown, received: ReceivedMessage) => void;

export class CloudSignal {
  /** Seed 000: called with the error when the broker refuses the credentials for good, or a refresh fails. */
  onAuthError: ((err: CloudSignalError) => void) | null = null;

  readonly clientId: string;
  /** The preset in force (`auto` resolved). */
  readonly preset: PresetName;
  #opts: CloudSignalOptions;
  #core: RealtimeClient | null = null;
  #tokens: TokenServiceClient | null = null;
  #creds: TokenCredentials | null = null;
  #mode: { kind: 'secretKey'; secretKey: string; user: string; organizationId?: string; ttlSeconds?: number; integrationId?: string } | { kind: 'external' } | null = null;
  #refreshTimer: ReturnType<typeof setTimeout> | null = null;
  #refreshing: Promise<void> | null = null;
  #destroyed = false;
  readonly #messageCallbacks = new Set<MessageCallback>();
  readonly #statusCallbacks = new Set<(s: ConnectionStatus) => void>();
  #tokenExpiring: (() => void) | null = null;
  #tokenRefreshed: ((info: TokenInfo) => void) | null = null;
  #tokenError: TokenErrorCallback | null = null;

  constructor(opts: CloudSignalOptions = {}) {
    this.#opts = opts;
    this.clientId = opts.clientId ?? randomClientId();
    const ua = userAgent();
    this.preset = resolvePresetName(opts.preset, { browser: isBrowserEnvironment(), ...(ua ? { userAgent: ua } : {}) });
  }

  get isConnected(): boolean {
    return this.#core?.isConnected ?? false;
  }

  get status(): ConnectionStatus {
    return this.#core?.status ?? 'idle';
  }

  /** The current token, without its password. */
  get tokenInfo(): TokenInfo | null {
    const c = this.#creds;
    return c && {
      tokenId: c.tokenId, username: c.username, organizationId: c.organizationId, provider: c.provider,
      expiresAt: new Date(c.expiresAt), refreshAt: new Date(c.refreshAt),
    };
  }

  onMessage(cb: MessageCallback): () => void {
    this.#messageCallbacks.add(cb);
    return () => this.#messageCallbacks.delete(cb);
  }

  /** connecting → connected → reconnecting / refreshing_credentials → … ; auth_failed and closed are final. */
  onStatusChange(cb: (status: ConnectionStatus) => void): () => void {
    this.#statusCallbacks.add(cb);
    return () => this.#statusCallbacks.delete(cb);
  }

  setTokenExpiringCallback(cb: (() => void) | null): void {
    this.#tokenExpiring = cb;
  }

  setTokenRefreshedCallback(cb: ((info: TokenInfo) => void) | null): void {
    this.#tokenRefreshed = cb;
  }

  setTokenErrorCallback(cb: TokenErrorCallback | null): void {
    this.#tokenError = cb;
  }

  /**
   * The official SDK's `getProviders(organizationId)`: the organisation's identity providers
   * (`GET /v2/providers`), whose JWTs `connectWithToken({externalToken})` accepts. No connection
   * needed; the token service is `tokenServiceUrl` (or the default for this page or localhost).
   */
  getProviders(organizationId: string): Promise<ProviderInfo[]> {
    return this.#tokenService().providers(organizationId);
  }

  async connectWithToken(o: ConnectWithTokenOptions): Promise<void> {
    if (this.#destroyed) throw new CloudSignalError('destroyed', 'client destroyed');
    if (this.#core) throw new CloudSignalError('invalid_options', 'already connected; destroy() this client first');
    const externalToken = o.externalToken || o.idToken || undefined;
    if ((o.secretKey === undefined) === (externalToken === undefined)) {
      throw new CloudSignalError('invalid_options', 'connectWithToken needs exactly one of secretKey or externalToken');
    }
    if (externalToken !== undefined && !o.organizationId) {
      throw new CloudSignalError('invalid_options', 'externalToken needs organizationId: the token is exchanged with POST /v2/tokens/exchange for that organization');
    }
    if (o.secretKey !== undefined && isBrowserEnvironment()) {
      throw new CloudSignalError('secret_key_in_browser',
        'secretKey must never reach a browser: mint a token on your server (POST /v2/tokens/create) and pass it as externalToken');
    }
    const page = pageLocation();
    this.#tokens = this.#tokenService(o.host);

    try {
      if (o.secretKey !== undefined) {
        this.#mode = {
          kind: 'secretKey', secretKey: o.secretKey, user: o.userEmail ?? o.userId ?? this.clientId,
          ...(o.organizationId ? { organizationId: o.organizationId } : {}),
          ...(o.ttlSeconds ? { ttlSeconds: o.ttlSeconds } : {}),
          ...(o.integrationId ? { integrationId: o.integrationId } : {}),
        };
        this.#creds = await this.#mint();
      } else {
        // The token service checks that the token is this organisation's (a JWT of one of its
        // providers, or one of its access_tokens); the answer's organization_id is the short id
        // even when organizationId was the UUID, so there is nothing left to compare here.
        this.#mode = { kind: 'external' };
        this.#creds = await this.#tokens.exchange({
          organizationId: o.organizationId!, token: externalToken!,
          ...(o.integrationId ? { integrationId: o.integrationId } : {}),
        });
      }
    } catch (err) {
      // As the official SDK: the failed create/exchange also reaches the token error callback.
      if (err instanceof CloudSignalError && err.type) this.#tokenError?.(err, err.type);
      throw err;
    }
    if (this.#destroyed) throw new CloudSignalError('destroyed', 'client destroyed');

    const address = resolveBrokerAddress(
      { ...(o.host ? { host: o.host } : {}), ...(o.port ? { port: o.port } : {}), ...(o.protocol ? { protocol: o.protocol } : {}), ...(o.path ? { path: o.path } : {}) },
      { ...(page ? { page } : {}), ...(this.#opts.tokenServiceUrl ? { tokenServiceUrl: this.#opts.tokenServiceUrl } : {}) },
    );
    const preset = PRESETS[this.preset];
    const messageExpirySeconds = this.#opts.messageExpirySeconds ?? preset.messageExpirySeconds;
    const core = new RealtimeClient({
      endpoint: { ...address, username: this.#creds.username, password: this.#creds.password },
      clientId: this.clientId,
      protocolVersion: this.#opts.protocolVersion ?? preset.protocolVersion,
      clean: this.#opts.clean ?? false,
      ...(this.#opts.sessionExpirySeconds !== undefined ? { sessionExpirySeconds: this.#opts.sessionExpirySeconds } : {}),
      keepaliveSeconds: this.#opts.keepaliveSeconds ?? preset.keepaliveSeconds,
      reconnectPeriodMs: this.#opts.reconnectPeriodMs ?? preset.reconnectPeriodMs,
      connectTimeoutMs: this.#opts.connectTimeoutMs ?? preset.connectTimeoutMs,
      requestTimeoutMs: this.#opts.requestTimeoutMs ?? preset.requestTimeoutMs,
      ...(messageExpirySeconds !== undefined ? { messageExpirySeconds } : {}),
      ...(this.#opts.responseTopicPattern ? { responseTopicPattern: this.#opts.responseTopicPattern } : {}),
      ...(this.#opts.retryBackoff ? { retryBackoff: this.#opts.retryBackoff } : {}),
      ...(this.#opts.authRetryDelaySeconds !== undefined ? { authRetryDelaySeconds: this.#opts.authRetryDelaySeconds } : {}),
      onAuthFailure: () => this.#credentialsAfterRefusal(),
    });
    this.#core = core;
    core.onMessage((topic, message, received) => {
      for (const cb of [...this.#messageCallbacks]) cb(topic, message, received);
    });
    core.on('status', (s) => {
      if (s === 'auth_failed') this.#clearRefreshTimer();
      for (const cb of [...this.#statusCallbacks]) cb(s);
    });
    // Refusals that a recovery fixes are not the application's concern; a final one is reported.
    core.on('status', (s) => {
      if (s === 'auth_failed') this.#reportAuthError(new CloudSignalError('auth_failed', 'the broker refused the credentials and they could not be renewed'));
    });
    try {
      await core.connect();
    } catch (err) {
      // Leave this instance reusable for another connectWithToken().
      this.#core = null;
      await core.destroy();
      throw err;
    }
    this.#scheduleRefresh();
  }

  subscribe(topic: string, qos?: QoS): Promise<void> {
    return this.#withCore((core) => core.subscribe(topic, qos));
  }

  unsubscribe(topic: string): Promise<void> {
    return this.#withCore((core) => core.unsubscribe(topic));
  }

  /** Publishes `message` (objects as JSON) with QoS 1 unless told otherwise. */
  transmit(topic: string, message: unknown, opts?: PublishOptions): Promise<void> {
    return this.#withCore((core) => core.publish(topic, message, opts));
  }

  /**
   * MQTT 5 request/response (the official SDK's `request()`): publishes with a response topic
   * (`response/{clientId}`), correlation data and user properties, resolves with the reply that
   * carries the same correlation data; rejects with `request_timeout`, or `mqtt5_required` on 3.1.1.
   */
  request(topic: string, message: unknown, opts?: RequestOptions): Promise<RequestReply> {
    return this.#withCore((core) => core.request(topic, message, opts));
  }

  /** Answers a request received in `onMessage` (pass its third argument) on the request's response topic. */
  respond(request: ReceivedMessage, message: unknown, opts?: ReplyOptions): Promise<void> {
    return this.#withCore((core) => core.respond(request, message, opts));
  }

  /** Renews the token now (what autoRefresh does on its schedule). Concurrent calls share one run. */
  refreshToken(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /** Stops timers and ends the session. Safe to call at any time, more than once. */
  destroy(): Promise<void> {
    this.#destroyed = true;
    this.#clearRefreshTimer();
    const core = this.#core;
    return core ? core.destroy() : Promise.resolve();
  }

  // ---- internals ----

  /** The token service for this client: `tokenServiceUrl`, else derived from the broker host or the page. */
  #tokenService(host?: string): TokenServiceClient {
    const url = this.#opts.tokenServiceUrl ?? defaultTokenServiceUrl(host, pageLocation());
    return new TokenServiceClient(url, this.#opts.fetch);
  }

  #withCore<T>(act: (core: RealtimeClient) => Promise<T>): Promise<T> {
    if (this.#destroyed) return Promise.reject(new CloudSignalError('destroyed', 'client destroyed'));
    if (!this.#core) return Promise.reject(new CloudSignalError('invalid_options', 'call connectWithToken() first'));
    return act(this.#core);
  }

  #mint(): Promise<TokenCredentials> {
    const m = this.#mode;
    if (m?.kind !== 'secretKey') throw new CloudSignalError('invalid_options', 'no secret key to mint with');
    return this.#tokens!.mint(m.secretKey, {
      user: m.user,
      ...(m.organizationId ? { organizationId: m.organizationId } : {}),
      ...(m.ttlSeconds ? { ttlSeconds: m.ttlSeconds } : {}),
      ...(m.integrationId ? { integrationId: m.integrationId } : {}),
    });
  }

  #scheduleRefresh(): void {
    this.#clearRefreshTimer();
    const c = this.#creds;
    if (!c || this.#destroyed) return;
    const delay = refreshDelayMs({ refreshAt: c.refreshAt, expiresAt: c.expiresAt, now: Date.now(), bufferSeconds: this.#opts.refreshBufferSeconds ?? 60 });
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null;
      this.#tokenExpiring?.();
      if (this.#opts.autoRefresh ?? true) void this.refreshToken().catch(() => undefined);
    }, delay);
  }

  #clearRefreshTimer(): void {
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
  }

  async #refresh(): Promise<void> {
    const c = this.#creds;
    if (!c || this.#destroyed) return;
    let next: TokenCredentials;
    try {
      next = await this.#renewed(c);
    } catch (err) {
      const e = err instanceof CloudSignalError ? err : new CloudSignalError('refresh_failed', String(err), undefined, TOKEN_ERRORS.REFRESH_FAILED);
      this.#tokenError?.(e, TOKEN_ERRORS.REFRESH_FAILED);
      this.#reportAuthError(e);
      this.#retryRefreshLater();
      throw e;
    }
    if (this.#destroyed) return;
    this.#creds = next;
    const credentials = { username: next.username, password: next.password };
    if (this.#opts.reconnectOnRefresh) await this.#core?.switchEndpoint(credentials);
    // SignalGate's broker moves a live session's end when its token is refreshed, so the session
    // carries on untouched and the new password serves the next reconnect: nothing in flight can
    // be lost, which a reconnect cannot promise (see README).
    else this.#core?.updateEndpoint(credentials);
    this.#scheduleRefresh();
    this.#tokenRefreshed?.(this.tokenInfo!);
  }

  /**
   * Proof of possession first; with a secret key, a fresh mint if the token cannot be refreshed.
   * An exchanged token (external) is only ever refreshed, never exchanged again: the SDK does not
   * keep the external token (a JWT is short-lived and the app's to renew), and the official SDK
   * has no hook to ask the app for a new one. So when a refresh is refused for good the client
   * ends in `auth_failed` + `onAuthError`; the app connects a new client with a fresh token.
   */
  async #renewed(c: TokenCredentials): Promise<TokenCredentials> {
    try {
      return await this.#tokens!.refresh(c.tokenId, c.password);
    } catch (err) {
      const status = (err as CloudSignalError).status;
      if (this.#mode?.kind === 'secretKey' && status !== undefined && status >= 400 && status < 500) return this.#mint();
      throw err;
    }
  }

  /** After a failed refresh: try again while the token lives (the broker ends the session at expiry). */
  #retryRefreshLater(): void {
    const c = this.#creds;
    if (!c || this.#destroyed) return;
    const remaining = c.expiresAt - Date.now();
    if (remaining <= 0 && this.#mode?.kind !== 'secretKey') return;
    const delay = Math.max(250, Math.min((this.#opts.refreshRetrySeconds ?? 30) * 1000, remaining / 2));
    this.#clearRefreshTimer();
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null;
      void this.refreshToken().catch(() => undefined);
    }, delay);
  }

  /**
   * The broker refused our credentials (expired, revoked, or rotated elsewhere). With a secret key
   * we mint anew; with an external token only a refresh can help, and a 4xx means give up.
   */
  async #credentialsAfterRefusal() {
    if (this.#refreshing) {
      // A scheduled refresh is already rotating the password: use its result, do not race it.
      const ok = await this.#refreshing.then(() => true, () => false);
      if (ok && this.#creds) return { username: this.#creds.username, password: this.#creds.password };
    }
    const c = this.#creds;
    if (!c || this.#destroyed) return null;
    try {
      const next = await this.#renewed(c);
      this.#creds = next;
      this.#scheduleRefresh();
      this.#tokenRefreshed?.(this.tokenInfo!);
      return { username: next.username, password: next.password };
    } catch (err) {
      const e = err as CloudSignalError;
      this.#tokenError?.(e, TOKEN_ERRORS.REFRESH_FAILED);
      if (e.status !== undefined && e.status >= 400 && e.status < 500 && e.status !== 429) {
        this.#lastRefusal = e;
        return null;
      }
      throw err;
    }
  }

  #lastRefusal: CloudSignalError | null = null;

  #reportAuthError(err: CloudSignalError): void {
    const detailed = err.code === 'auth_failed' && this.#lastRefusal
      ? new CloudSignalError(this.#lastRefusal.code, `the credential was refused and cannot be renewed: ${this.#lastRefusal.message}`, this.#lastRefusal.status, this.#lastRefusal.type)
      : err;
    this.onAuthError?.(detailed);
  }
}
