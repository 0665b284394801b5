// The one place that reads environment variables. Every setting has a validated default and a
// line in the README's configuration table; a bad value stops start-up with the variable named.
import { z } from 'zod';
import path from 'node:path';

const port = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const raw = v === undefined || v === '' ? String(fallback) : v.trim().toLowerCase();
      if (raw === 'off') return null;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        ctx.addIssue({ code: 'custom', message: `must be a port 0-65535 or "off", got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const int = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer ${min}-${max}, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const bool = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      if (/^(1|true|yes|on)$/i.test(v)) return true;
      if (/^(0|false|no|off)$/i.test(v)) return false;
      ctx.addIssue({ code: 'custom', message: `must be true or false, got "${v}"` });
      return z.NEVER;
    });

const schema = z.object({
  SIGNALGATE_DATA_DIR: z.string().optional().transform((v) => path.resolve(v && v.trim() ? v : './data')),
  SIGNALGATE_BIND: z.string().optional().transform((v) => (v && v.trim() ? v.trim() : '127.0.0.1')),
  SIGNALGATE_API_PORT: port(8080),
  SIGNALGATE_MQTT_PORT: port(1883),
  SIGNALGATE_WS_PORT: port(8083),
  SIGNALGATE_MQTTS_PORT: port(8883),
  SIGNALGATE_WSS_PORT: port(18885),
  SIGNALGATE_TLS_CERT: optionalText,
  SIGNALGATE_TLS_KEY: optionalText,
  SIGNALGATE_ADMIN_KEY: optionalText,
  SIGNALGATE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional().default('info'),
  /** Log lines as JSON or pino-pretty text; `auto`: pretty when stderr is a terminal (`start --log-format` overrides it). */
  SIGNALGATE_LOG_FORMAT: z.enum(['pretty', 'json', 'auto']).optional().default('auto'),
  /** Body limit for the token API; larger bodies get 413. */
  SIGNALGATE_API_BODY_LIMIT: int(64 * 1024, 1024, 10 * 1024 * 1024),
  /** Mint/refresh requests allowed per API key and per client IP in one minute. */
  SIGNALGATE_MINT_RATE_PER_KEY: int(60_000, 1, 10_000_000),
  SIGNALGATE_MINT_RATE_PER_IP: int(600, 1, 10_000_000),
  /** Failed key or refresh-password attempts per IP in one minute before 429. */
  SIGNALGATE_AUTH_FAILURES_PER_IP: int(20, 1, 1_000_000),
  /**
   * argon2 key checks (sk_/cs_ and admin keys not cached yet) running at once, and waiting beyond
   * those; more get 503 server_busy (MQTT: CONNACK 3 / 0x89). They run on libuv's 4-thread pool.
   */
  SIGNALGATE_ARGON2_CONCURRENCY: int(2, 1, 64),
  /** Days an expired or revoked token, and a user left without tokens, are kept before the purge. */
  SIGNALGATE_RETENTION_DAYS: int(30, 1, 3650),
  /** Days audit rows are kept (0: for ever); `signalgate audit export` saves them first. */
  SIGNALGATE_AUDIT_RETENTION_DAYS: int(365, 0, 36500),
  /** Days history messages are kept. */
  SIGNALGATE_HISTORY_RETENTION_DAYS: int(7, 1, 3650),
  /** Open sockets per client address on each service (API; broker, all listeners); 0: no limit. */
  SIGNALGATE_MAX_CONNECTIONS_PER_IP: int(1000, 0, 10_000_000),
  /** Filters one SUBSCRIBE or UNSUBSCRIBE may carry; more end the session (MQTT 5: DISCONNECT 0x97). */
  SIGNALGATE_MAX_FILTERS_PER_PACKET: int(1000, 1, 100_000),
  /** Refused MQTT CONNECTs per client address per minute before its new sockets are closed unread. */
  SIGNALGATE_CONNECT_REFUSALS_PER_IP: int(600, 1, 10_000_000),
  SIGNALGATE_ARGON2_QUEUE: int(64, 0, 100_000),
  /** How long a verified API key stays cached in memory (seconds; 0 disables the cache). */
  SIGNALGATE_KEY_CACHE_SECONDS: int(300, 0, 86_400),
  /** Seconds a CONNECT may take before the socket is closed. */
  SIGNALGATE_CONNECT_TIMEOUT: int(10, 1, 300),
  /** What a denied PUBLISH does: drop it (and count it) or disconnect the client. */
  SIGNALGATE_DENIED_PUBLISH: z.enum(['drop', 'disconnect']).optional().default('drop'),
  /** Largest MQTT packet or WebSocket frame accepted by the broker, in bytes. */
  SIGNALGATE_MAX_PACKET_BYTES: int(1024 * 1024, 1024, 256 * 1024 * 1024),
  /**
   * QoS 2 messages one client may have awaiting PUBREL (announced to MQTT 5 clients as Receive
   * Maximum); past it a 3.1.1 client is disconnected and an MQTT 5 client gets DISCONNECT 0x93.
   */
  SIGNALGATE_RECEIVE_MAXIMUM: int(1000, 1, 65_535),
  /** Topic aliases an MQTT 5 client may register per connection (announced in CONNACK; 0 turns them off). */
  SIGNALGATE_TOPIC_ALIAS_MAXIMUM: int(10, 0, 65_535),
  /** Upper bound on an MQTT 5 Session Expiry Interval (seconds); a longer request is shortened and told so in CONNACK. */
  SIGNALGATE_MAX_SESSION_EXPIRY: int(7200, 1, 4_294_967_295),
  /**
   * MQTT 5 sessions kept after their connection closed (awaiting their expiry or a delayed will),
   * per broker; a session beyond it ends with its connection (aedes' pendingSessionsLimit).
   */
  SIGNALGATE_MAX_STORED_SESSIONS: int(10_000, 1, 10_000_000),
  /** Messages kept per topic for the history API. */
  SIGNALGATE_HISTORY_PER_TOPIC: int(100, 0, 100_000),
  /**
   * How often the change feed is read for revokes, refreshes and rule changes made by any process
   * (ms). On PostgreSQL a NOTIFY wakes the reader at once and this poll is the fallback.
   */
  SIGNALGATE_CHANGE_POLL_MS: int(200, 20, 1000),
  /**
   * Credentials (tkn_ password hashes) whose CONNECT record a process keeps in memory, dropped
   * through the change feed when revoked, refreshed or when their org's rules change; 0 turns the
   * cache off.
   */
  SIGNALGATE_CONNECT_CACHE_SIZE: int(10_000, 0, 10_000_000),
  /** Store reads for credentials not in that cache at once (a reconnect storm after a restart); more wait. */
  SIGNALGATE_CONNECT_CACHE_MISSES: int(16, 1, 4096),
  /** Trust X-Forwarded-For from these proxies (express "trust proxy" value); empty = trust none. */
  SIGNALGATE_TRUST_PROXY: optionalText,
  /** Addresses that read /metrics without the admin key (comma-separated; CIDR ranges, `loopback`…; empty: none). */
  SIGNALGATE_METRICS_ALLOW: z.string().optional().default('loopback'),
  /**
   * Puts every table in PostgreSQL (postgres://user:pass@host:port/db) instead of the SQLite file in
   * SIGNALGATE_DATA_DIR: for brokers and APIs on more than one machine. Unset: SQLite.
   */
  SIGNALGATE_DATABASE_URL: optionalText.superRefine((v, ctx) => {
    if (v !== undefined && !/^postgres(ql)?:\/\/[^\s]+$/.test(v)) ctx.addIssue({ code: 'custom', message: `must be a postgres:// URL, got "${v}"` });
  }),
  /** With SIGNALGATE_DATABASE_URL: connections each process keeps to PostgreSQL at most. */
  SIGNALGATE_DATABASE_POOL: int(10, 1, 1000),
  /**
   * Brokers on one Redis form one broker (issue 16): messages fan out through it, and retained
   * messages, subscriptions, sessions, offline queues and wills live in it. Unset: embedded, alone.
   */
  SIGNALGATE_REDIS_URL: optionalText.superRefine((v, ctx) => {
    if (v !== undefined && !/^rediss?:\/\/[^\s]+$/.test(v)) ctx.addIssue({ code: 'custom', message: `must be a redis:// or rediss:// URL, got "${v}"` });
  }),
  /**
   * With SIGNALGATE_REDIS_URL: how often each node tells the others it is alive (ms). A node silent
   * for three beats is dead: its connections stop counting, and its wills, sessions and presence
   * are taken care of by the others.
   */
  SIGNALGATE_CLUSTER_HEARTBEAT_MS: int(5000, 100, 60_000),
  /** How often the broker writes per-organisation usage (connections, messages) for the dashboard (ms). */
  SIGNALGATE_USAGE_SAMPLE_MS: int(5000, 100, 60_000),
  /** Idle lifetime of a dashboard sign-in (seconds); it also ends 12 h after sign-in at the latest. */
  SIGNALGATE_DASHBOARD_SESSION_SECONDS: int(1800, 60, 86_400),
  /**
   * Browser origins allowed to call the token routes (create, exchange, refresh, v1 create, self,
   * providers): `*` (default, every origin) or a comma-separated list such as
   * `https://app.example.com,http://localhost:3000`. The admin API and the dashboard are never cross-origin.
   */
  SIGNALGATE_CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '' || v.trim() === '*') return '*' as const;
      const origins = v.split(',').map((o) => o.trim()).filter(Boolean);
      for (const o of origins) {
        let origin: string | undefined;
        try {
          origin = new URL(o).origin;
        } catch {
          // reported below
        }
        if (origin !== o) {
          ctx.addIssue({ code: 'custom', message: `"${o}" is not an origin (scheme://host[:port], no path or trailing slash)` });
          return z.NEVER;
        }
      }
      return origins;
    }),
  /**
   * Seconds a token counts as in use after it was minted, refreshed or its last session ended;
   * replace_existing leaves such tokens (and tokens with a live session) alone.
   */
  SIGNALGATE_REPLACE_GRACE_SECONDS: int(300, 0, 86_400),
  /**
   * Shortest time between two fetches of one identity provider's JWKS for a token whose key id is
   * unknown (a key rotation); bounds how often forged kids make SignalGate call the provider.
   */
  SIGNALGATE_JWKS_COOLDOWN_SECONDS: int(30, 0, 3600),
  /** REST publisher (`POST /v1/publish`): messages per second per API key, and the burst above it. */
  SIGNALGATE_PUBLISH_RATE_PER_KEY: int(100, 1, 1_000_000),
  SIGNALGATE_PUBLISH_BURST_PER_KEY: int(200, 1, 1_000_000),
  /** Create a dev organisation and key on first start (embedded default). */
  SIGNALGATE_BOOTSTRAP_DEV_ORG: bool(true),
});

/** Every environment variable SignalGate reads (the README's configuration table lists these). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

export type Config = ReturnType<typeof loadConfig>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  if (Boolean(c.SIGNALGATE_TLS_CERT) !== Boolean(c.SIGNALGATE_TLS_KEY)) {
    throw new Error('invalid configuration:\n  SIGNALGATE_TLS_CERT and SIGNALGATE_TLS_KEY must be set together');
  }
  return {
    dataDir: c.SIGNALGATE_DATA_DIR,
    bind: c.SIGNALGATE_BIND,
    apiPort: c.SIGNALGATE_API_PORT,
    mqttPort: c.SIGNALGATE_MQTT_PORT,
    wsPort: c.SIGNALGATE_WS_PORT,
    mqttsPort: c.SIGNALGATE_MQTTS_PORT,
    wssPort: c.SIGNALGATE_WSS_PORT,
    tls: c.SIGNALGATE_TLS_CERT && c.SIGNALGATE_TLS_KEY ? { certPath: c.SIGNALGATE_TLS_CERT, keyPath: c.SIGNALGATE_TLS_KEY } : undefined,
    adminKey: c.SIGNALGATE_ADMIN_KEY,
    logLevel: c.SIGNALGATE_LOG_LEVEL,
    logFormat: c.SIGNALGATE_LOG_FORMAT,
    apiBodyLimit: c.SIGNALGATE_API_BODY_LIMIT,
    mintRatePerKey: c.SIGNALGATE_MINT_RATE_PER_KEY,
    mintRatePerIp: c.SIGNALGATE_MINT_RATE_PER_IP,
    authFailuresPerIp: c.SIGNALGATE_AUTH_FAILURES_PER_IP,
    argon2Concurrency: c.SIGNALGATE_ARGON2_CONCURRENCY,
    maxConnectionsPerIp: c.SIGNALGATE_MAX_CONNECTIONS_PER_IP,
    retentionDays: c.SIGNALGATE_RETENTION_DAYS,
    auditRetentionDays: c.SIGNALGATE_AUDIT_RETENTION_DAYS,
    historyRetentionDays: c.SIGNALGATE_HISTORY_RETENTION_DAYS,
    connectRefusalsPerIp: c.SIGNALGATE_CONNECT_REFUSALS_PER_IP,
    maxFiltersPerPacket: c.SIGNALGATE_MAX_FILTERS_PER_PACKET,
    argon2Queue: c.SIGNALGATE_ARGON2_QUEUE,
    keyCacheSeconds: c.SIGNALGATE_KEY_CACHE_SECONDS,
    connectTimeoutSeconds: c.SIGNALGATE_CONNECT_TIMEOUT,
    deniedPublish: c.SIGNALGATE_DENIED_PUBLISH,
    maxPacketBytes: c.SIGNALGATE_MAX_PACKET_BYTES,
    receiveMaximum: c.SIGNALGATE_RECEIVE_MAXIMUM,
    topicAliasMaximum: c.SIGNALGATE_TOPIC_ALIAS_MAXIMUM,
    maxSessionExpirySeconds: c.SIGNALGATE_MAX_SESSION_EXPIRY,
    maxStoredSessions: c.SIGNALGATE_MAX_STORED_SESSIONS,
    historyPerTopic: c.SIGNALGATE_HISTORY_PER_TOPIC,
    changePollMs: c.SIGNALGATE_CHANGE_POLL_MS,
    connectCacheSize: c.SIGNALGATE_CONNECT_CACHE_SIZE,
    connectCacheMisses: c.SIGNALGATE_CONNECT_CACHE_MISSES,
    trustProxy: c.SIGNALGATE_TRUST_PROXY,
    metricsAllow: c.SIGNALGATE_METRICS_ALLOW,
    redisUrl: c.SIGNALGATE_REDIS_URL,
    databaseUrl: c.SIGNALGATE_DATABASE_URL,
    databasePool: c.SIGNALGATE_DATABASE_POOL,
    clusterHeartbeatMs: c.SIGNALGATE_CLUSTER_HEARTBEAT_MS,
    bootstrapDevOrg: c.SIGNALGATE_BOOTSTRAP_DEV_ORG,
    usageSampleMs: c.SIGNALGATE_USAGE_SAMPLE_MS,
    dashboardSessionSeconds: c.SIGNALGATE_DASHBOARD_SESSION_SECONDS,
    corsOrigins: c.SIGNALGATE_CORS_ORIGINS,
    replaceGraceSeconds: c.SIGNALGATE_REPLACE_GRACE_SECONDS,
    jwksCooldownSeconds: c.SIGNALGATE_JWKS_COOLDOWN_SECONDS,
    publishRatePerKey: c.SIGNALGATE_PUBLISH_RATE_PER_KEY,
    publishBurstPerKey: Math.max(c.SIGNALGATE_PUBLISH_BURST_PER_KEY, c.SIGNALGATE_PUBLISH_RATE_PER_KEY),
  };
}

/** The host to put in a URL for reaching a listener bound to `bind` from this machine. */
export function localUrlHost(bind: string): string {
  if (bind === '0.0.0.0') return '127.0.0.1';
  if (bind === '::' || bind === '[::]') return '[::1]';
  return bind.includes(':') ? `[${bind}]` : bind;
}
