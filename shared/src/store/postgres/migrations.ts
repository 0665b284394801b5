// Schema history for PostgreSQL, beside SQLite's (../migrations.ts): appended, never edited, one
// `schema_migrations` table recording what ran. Version 1 is SQLite's versions 1–7 as one schema; a
// later change is a migration appended to both lists.
//
// Types are chosen so the SQLite files' row mappers read PostgreSQL rows unchanged: every integer
// BIGINT (pg hands int8 back as a JS number, see store.ts), 0/1 flags SMALLINT (the mappers compare
// `=== 1`), JSON lists TEXT, payloads BYTEA. Text compared or sorted by the code is COLLATE "C", so
// ORDER BY and equality are byte order, as in SQLite, whatever the database's locale. Where SQLite's
// statements use rowid order (pruning a token's passwords, the users retention deletes) the table has
// an identity column `id` in its place. Indexes beyond SQLite's serve the deletes by time and by
// broker or token, which SQLite answers by scanning.
import type pg from 'pg';

export const PG_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'schema of SQLite versions 1-7',
    sql: `
CREATE TABLE orgs (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  default_ttl_seconds BIGINT NOT NULL DEFAULT 3600,
  min_ttl_seconds BIGINT NOT NULL DEFAULT 60,
  max_ttl_seconds BIGINT NOT NULL DEFAULT 86400,
  max_connections BIGINT,
  max_messages_per_second BIGINT,
  max_bytes_per_second BIGINT,
  max_payload_bytes BIGINT,
  token_messages_per_second BIGINT,
  max_connects_per_second BIGINT,
  uuid TEXT COLLATE "C",
  max_token_lifetime_seconds BIGINT NOT NULL DEFAULT 604800,
  max_subscriptions_per_connection BIGINT DEFAULT 1000,
  max_retained_messages BIGINT DEFAULT 10000,
  max_retained_bytes BIGINT DEFAULT 67108864,
  max_queued_messages BIGINT DEFAULT 1000,
  max_queued_bytes BIGINT DEFAULT 16777216,
  max_history_topics BIGINT DEFAULT 1000,
  max_history_bytes BIGINT DEFAULT 67108864
);
CREATE UNIQUE INDEX orgs_uuid ON orgs(uuid);

CREATE TABLE rule_sets (
  id TEXT COLLATE "C" PRIMARY KEY,
  org_id TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name TEXT COLLATE "C" NOT NULL,
  is_default SMALLINT NOT NULL DEFAULT 0,
  publish TEXT NOT NULL,
  subscribe TEXT NOT NULL,
  presence SMALLINT NOT NULL,
  history SMALLINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  deny_publish TEXT NOT NULL DEFAULT '[]',
  deny_subscribe TEXT NOT NULL DEFAULT '[]',
  UNIQUE (org_id, name)
);
CREATE UNIQUE INDEX rule_sets_one_default ON rule_sets(org_id) WHERE is_default = 1;

CREATE TABLE integrations (
  org_id TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  id TEXT COLLATE "C" NOT NULL,
  rule_set_id TEXT COLLATE "C" NOT NULL REFERENCES rule_sets(id),
  description TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX integrations_rule_set ON integrations(rule_set_id);

CREATE TABLE api_keys (
  id TEXT COLLATE "C" PRIMARY KEY,
  org_id TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  prefix TEXT COLLATE "C" NOT NULL,
  hash TEXT NOT NULL,
  name TEXT,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT,
  revoked_at BIGINT,
  expires_at BIGINT,
  replaced_by TEXT COLLATE "C"
);
CREATE INDEX api_keys_prefix ON api_keys(prefix);
CREATE INDEX api_keys_org ON api_keys(org_id);

CREATE TABLE users (
  id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
  org_id TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_ref TEXT COLLATE "C" NOT NULL,
  user_id TEXT COLLATE "C" NOT NULL,
  user_email TEXT COLLATE "C",
  created_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, user_ref),
  UNIQUE (org_id, user_id)
);
CREATE INDEX users_email ON users(org_id, user_email);
CREATE INDEX users_created ON users(created_at);

CREATE TABLE tokens (
  id TEXT COLLATE "C" PRIMARY KEY,
  org_id TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_ref TEXT COLLATE "C" NOT NULL,
  password_hash TEXT COLLATE "C" NOT NULL UNIQUE,
  integration_id TEXT COLLATE "C",
  scopes TEXT NOT NULL,
  api_key_id TEXT COLLATE "C",
  issued_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  refreshed_at BIGINT,
  revoked_at BIGINT,
  revoke_reason TEXT,
  provider TEXT COLLATE "C",
  last_used_at BIGINT
);
CREATE INDEX tokens_user ON tokens(org_id, user_ref);
CREATE INDEX tokens_expiry ON tokens(expires_at);
CREATE INDEX tokens_api_key ON tokens(api_key_id) WHERE api_key_id IS NOT NULL;
CREATE INDEX tokens_revoked ON tokens(revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE token_passwords (
  id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
  password_hash TEXT COLLATE "C" PRIMARY KEY,
  token_id TEXT COLLATE "C" NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL
);
CREATE INDEX token_passwords_token ON token_passwords(token_id, id);

-- Change feed: how a broker in another process learns of revokes, refreshes and rule edits.
CREATE TABLE changes (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  kind TEXT COLLATE "C" NOT NULL,
  org_id TEXT COLLATE "C" NOT NULL,
  ref TEXT COLLATE "C"
);
CREATE INDEX changes_at ON changes(at);

-- Brokers LISTEN here instead of polling (store.ts onChange). No payload: a woken reader asks
-- changes.since(seq) as a poll would, so a notification lost to a reconnect loses nothing; one per
-- statement, and PostgreSQL folds equal notifications of one transaction into one.
CREATE FUNCTION signalgate_notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('signalgate_changes', '');
  RETURN NULL;
END;
$$;
CREATE TRIGGER changes_notify AFTER INSERT ON changes FOR EACH STATEMENT EXECUTE FUNCTION signalgate_notify_changes();

CREATE TABLE audit (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  event TEXT COLLATE "C" NOT NULL,
  org_id TEXT COLLATE "C",
  user_id TEXT COLLATE "C",
  user_ref TEXT COLLATE "C",
  token_id TEXT COLLATE "C",
  ip TEXT,
  user_agent TEXT,
  expires_at BIGINT,
  detail TEXT
);
CREATE INDEX audit_org ON audit(org_id, id);
CREATE INDEX audit_at ON audit(at);

CREATE TABLE sessions (
  broker_id TEXT COLLATE "C" NOT NULL,
  org_id TEXT COLLATE "C" NOT NULL,
  client_id TEXT COLLATE "C" NOT NULL,
  user_ref TEXT COLLATE "C" NOT NULL,
  token_id TEXT COLLATE "C" NOT NULL,
  address TEXT,
  protocol TEXT NOT NULL,
  connected_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, client_id)
);
CREATE INDEX sessions_user ON sessions(org_id, user_ref);
CREATE INDEX sessions_broker ON sessions(broker_id);
CREATE INDEX sessions_token ON sessions(token_id);

CREATE TABLE history (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id TEXT COLLATE "C" NOT NULL,
  topic TEXT COLLATE "C" NOT NULL,
  payload BYTEA NOT NULL,
  qos SMALLINT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX history_topic ON history(org_id, topic, id);
CREATE INDEX history_at ON history(at);

CREATE TABLE settings (
  key TEXT COLLATE "C" PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE usage_samples (
  org_id TEXT COLLATE "C" NOT NULL,
  broker_id TEXT COLLATE "C" NOT NULL,
  at BIGINT NOT NULL,
  interval_ms BIGINT NOT NULL,
  connections BIGINT NOT NULL,
  messages BIGINT NOT NULL
);
CREATE INDEX usage_samples_org ON usage_samples(org_id, at);
CREATE INDEX usage_samples_at ON usage_samples(at);

CREATE TABLE identity_providers (
  org_id TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name TEXT COLLATE "C" NOT NULL,
  type TEXT NOT NULL,
  issuer TEXT COLLATE "C" NOT NULL,
  jwks_url TEXT,
  secret TEXT,
  audience TEXT,
  user_id_claim TEXT NOT NULL,
  email_claim TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, name),
  UNIQUE (org_id, issuer)
);
`,
  },
];

/**
 * Any constant: the advisory lock every process takes to migrate. Two processes starting together
 * queue on it, so each version is applied once (the second finds it recorded).
 */
const MIGRATION_LOCK = 0x5167_6174; // "SgGt"

/** Brings the database up to the newest version, each version in its own transaction. */
export async function migratePostgres(pool: pg.Pool, migrations = PG_MIGRATIONS): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => Number(r.version)));
      for (const m of migrations) {
        if (applied.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql); // no parameters: the simple protocol, which runs a script
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch((err: Error) => { broken = err; });
    }
  } finally {
    // A client whose unlock failed may still hold the lock: destroy it rather than pool it.
    client.release(broken);
  }
}
