// `signalgate store copy --to postgres://…`: a one-shot copy of an SQLite store into an empty
// PostgreSQL database, for moving an embedded install to several machines. Run it with the
// SignalGate processes stopped (nothing may write the file meanwhile). Everything is copied in one
// PostgreSQL transaction, table by table in foreign-key order and rows in rowid order (so a token's
// first password stays its first); a failure leaves the target empty. Ids, sequence numbers and
// every secret's hash are copied as they are: tokens, keys and the admin key keep working.
import Database from 'better-sqlite3';
import path from 'node:path';
import pg from 'pg';
import { DB_FILE_NAME, openDatabase } from '../db.js';
import { migratePostgres } from './migrations.js';

/** Every table, parents first. A table the SQLite file has and this list lacks stops the copy. */
const TABLES = [
  'orgs', 'rule_sets', 'integrations', 'api_keys', 'users', 'tokens', 'token_passwords', 'identity_providers',
  'changes', 'audit', 'sessions', 'history', 'settings', 'usage_samples',
] as const;

const PAGE = 500;

export type CopyCounts = Record<string, number>;

export async function copySqliteToPostgres(dataDir: string, url: string): Promise<CopyCounts> {
  // Opened (and migrated) the usual way first, so the file has the newest schema; then read-only.
  openDatabase(dataDir).close();
  const source = new Database(path.join(dataDir, DB_FILE_NAME), { readonly: true, fileMustExist: true });
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const extra = (source.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'")
      .pluck().all() as string[]).filter((t) => !(TABLES as readonly string[]).includes(t));
    if (extra.length > 0) throw new Error(`the SQLite file has tables this version cannot copy: ${extra.join(', ')}`);
    await migratePostgres(pool);
    const client = await pool.connect();
    try {
      const { rows: [held] } = await client.query<{ n: string }>('SELECT COUNT(*) AS n FROM orgs');
      if (Number(held!.n) > 0) throw new Error('the target database already holds organizations: copy only into a new database');
      await client.query('BEGIN');
      const counts: CopyCounts = {};
      for (const table of TABLES) counts[table] = await copyTable(source, client, table);
      await client.query('COMMIT');
      return counts;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  } finally {
    source.close();
    await pool.end();
  }
}

async function copyTable(source: Database.Database, client: pg.PoolClient, table: string): Promise<number> {
  const { rows: target } = await client.query<{ column_name: string; is_identity: string }>(
    'SELECT column_name, is_identity FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1', [table]);
  const sourceColumns = (source.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  const missing = sourceColumns.filter((c) => !target.some((t) => t.column_name === c));
  if (missing.length > 0) throw new Error(`${table}: PostgreSQL has no column ${missing.join(', ')}`);
  const identity = target.filter((t) => t.is_identity === 'YES' && sourceColumns.includes(t.column_name)).map((t) => t.column_name);
  const columns = sourceColumns.map((c) => `"${c}"`).join(', ');
  let copied = 0;
  let page: unknown[][] = [];
  const flush = async () => {
    if (page.length === 0) return;
    const values = page.map((row, r) => `(${row.map((_, c) => `$${r * row.length + c + 1}`).join(', ')})`).join(', ');
    // OVERRIDING SYSTEM VALUE: ids and change sequence numbers keep their values.
    await client.query(`INSERT INTO ${table} (${columns}) ${identity.length > 0 ? 'OVERRIDING SYSTEM VALUE ' : ''}VALUES ${values}`, page.flat());
    copied += page.length;
    page = [];
  };
  for (const row of source.prepare(`SELECT ${columns} FROM ${table} ORDER BY rowid`).raw().iterate() as Iterable<unknown[]>) {
    page.push(row);
    if (page.length === PAGE) await flush();
  }
  await flush();
  // The next generated value follows the copied ones.
  for (const column of identity) {
    await client.query(`SELECT setval(pg_get_serial_sequence('${table}', '${column}'), GREATEST((SELECT MAX("${column}") FROM ${table}), 1))`);
  }
  const { rows: [n] } = await client.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${table}`);
  if (Number(n!.n) !== copied) throw new Error(`${table}: copied ${copied} rows but the table holds ${n!.n}`);
  return copied;
}
