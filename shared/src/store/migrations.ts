// Schema history. A migration is appended, never edited: `schema_migrations` records what ran.
// Times are epoch milliseconds (INTEGER); JSON columns hold filter lists.

export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE orgs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  default_ttl_seconds INTEGER NOT NULL DEFAULT 3600,
  min_ttl_seconds INTEGER NOT NULL DEFAULT 60,
  max_ttl_seconds INTEGER NOT NULL DEFAULT 86400,
  max_connections INTEGER,
  max_messages_per_second INTEGER,
  max_bytes_per_second INTEGER,
  max_payload_bytes INTEGER,
  token_messages_per_second INTEGER
);

CREATE TABLE rule_sets (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  is_default INTEGER NOT NULL DEFAULT 0,
  publish TEXT NOT NULL,
  subscribe TEXT NOT NULL,
  presence INTEGER NOT NULL,
  history INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (org_id, name)
);
CREATE UNIQUE INDEX rule_sets_one_default ON rule_sets(org_id) WHERE is_default = 1;

CREATE TABLE integrations (
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  rule_set_id TEXT NOT NULL REFERENCES rule_sets(id),
  description TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, id)
);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  prefix TEXT NOT NULL,
  hash TEXT NOT NULL,
  name TEXT,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER,
  expires_at INTEGER,
  replaced_by TEXT
);
CREATE INDEX api_keys_prefix ON api_keys(prefix);
CREATE INDEX api_keys_org ON api_keys(org_id);

CREATE TABLE users (
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_ref TEXT NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, user_ref),
  UNIQUE (org_id, user_id)
);
CREATE INDEX users_email ON users(org_id, user_email);

CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_ref TEXT NOT NULL,
  password_hash TEXT NOT NULL UNIQUE,
  integration_id TEXT,
  scopes TEXT NOT NULL,
  api_key_id TEXT,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  refreshed_at INTEGER,
  revoked_at INTEGER,
  revoke_reason TEXT
);
CREATE INDEX tokens_user ON tokens(org_id, user_ref);
CREATE INDEX tokens_expiry ON tokens(expires_at);

-- Change feed: how a broker in another process learns of revokes, refreshes and rule edits.
CREATE TABLE changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  org_id TEXT NOT NULL,
  ref TEXT
);

CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  org_id TEXT,
  user_id TEXT,
  user_ref TEXT,
  token_id TEXT,
  ip TEXT,
  user_agent TEXT,
  expires_at INTEGER,
  detail TEXT
);
CREATE INDEX audit_org ON audit(org_id, id);

CREATE TABLE sessions (
  broker_id TEXT NOT NULL,
  org_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  user_ref TEXT NOT NULL,
  token_id TEXT NOT NULL,
  address TEXT,
  protocol TEXT NOT NULL,
  connected_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, client_id)
);
CREATE INDEX sessions_user ON sessions(org_id, user_ref);

CREATE TABLE history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  org_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX history_topic ON history(org_id, topic, id);

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'usage samples',
    // One row per broker, organisation and sampling interval: connections open at the sample and
    // messages accepted since the previous one. The dashboard's usage chart sums the brokers.
    sql: `
CREATE TABLE usage_samples (
  org_id TEXT NOT NULL,
  broker_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  interval_ms INTEGER NOT NULL,
  connections INTEGER NOT NULL,
  messages INTEGER NOT NULL
);
CREATE INDEX usage_samples_org ON usage_samples(org_id, at);
CREATE INDEX usage_samples_at ON usage_samples(at);
`,
  },
  {
    version: 3,
    name: 'org connect rate limit',
    // New CONNECTs per second for the whole organisation; NULL (every existing org) is unlimited.
    sql: `
ALTER TABLE orgs ADD COLUMN max_connects_per_second INTEGER;
`,
  },
  {
    version: 4,
    name: 'org uuids, every password of a token, identity providers',
    // Every organisation also has a UUID (the official SDK's "organization UUID"); existing orgs get
    // a random version-4 one here, new ones from node:crypto.
    // token_passwords: each password a token has had (first, refreshes), so a client reconnecting
    // with an earlier one keeps working while the token lives; tokens.password_hash stays the
    // newest, the only one a refresh accepts.
    // identity_providers: per-org JWT issuers whose tokens /v2/tokens/exchange accepts.
    // tokens.provider: the provider a token was exchanged from (null: minted with a key).
    sql: `
ALTER TABLE orgs ADD COLUMN uuid TEXT;
UPDATE orgs SET uuid = lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
  || substr('89ab', 1 + abs(random() % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)));
CREATE UNIQUE INDEX orgs_uuid ON orgs(uuid);

CREATE TABLE token_passwords (
  password_hash TEXT PRIMARY KEY,
  token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL
);
CREATE INDEX token_passwords_token ON token_passwords(token_id, created_at);
INSERT INTO token_passwords (password_hash, token_id, created_at) SELECT password_hash, id, COALESCE(refreshed_at, issued_at) FROM tokens;

ALTER TABLE tokens ADD COLUMN provider TEXT;
-- When a session of the token last ended (written by the broker): replace_existing spares tokens
-- in use a moment ago, so a client reconnecting after a drop is not retired by its user's new tab.
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;

CREATE TABLE identity_providers (
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  issuer TEXT NOT NULL,
  jwks_url TEXT,
  secret TEXT,
  audience TEXT,
  user_id_claim TEXT NOT NULL,
  email_claim TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, name),
  UNIQUE (org_id, issuer)
);
`,
  },
  {
    version: 5,
    name: 'deny rules',
    // Filters a rule set denies, per action (JSON lists, like publish/subscribe); deny wins over
    // allow inside the set. Every existing set denies nothing.
    sql: `
ALTER TABLE rule_sets ADD COLUMN deny_publish TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rule_sets ADD COLUMN deny_subscribe TEXT NOT NULL DEFAULT '[]';
`,
  },
  {
    version: 6,
    name: 'absolute token lifetime',
    // How long a token lives from its mint however often it is refreshed (7 days, the longest TTL);
    // the key that minted a token is already on it (tokens.api_key_id), indexed for revoking with it.
    sql: `
ALTER TABLE orgs ADD COLUMN max_token_lifetime_seconds INTEGER NOT NULL DEFAULT 604800;
CREATE INDEX tokens_api_key ON tokens(api_key_id) WHERE api_key_id IS NOT NULL;
`,
  },
  {
    version: 7,
    name: 'quotas',
    // Per-organisation quotas with defaults (shared/src/orgLimits.ts says the same); NULL: no limit.
    sql: `
ALTER TABLE orgs ADD COLUMN max_subscriptions_per_connection INTEGER DEFAULT 1000;
ALTER TABLE orgs ADD COLUMN max_retained_messages INTEGER DEFAULT 10000;
ALTER TABLE orgs ADD COLUMN max_retained_bytes INTEGER DEFAULT 67108864;
ALTER TABLE orgs ADD COLUMN max_queued_messages INTEGER DEFAULT 1000;
ALTER TABLE orgs ADD COLUMN max_queued_bytes INTEGER DEFAULT 16777216;
ALTER TABLE orgs ADD COLUMN max_history_topics INTEGER DEFAULT 1000;
ALTER TABLE orgs ADD COLUMN max_history_bytes INTEGER DEFAULT 67108864;
`,
  },
];
