// Key-value settings on PostgreSQL: the statements of ../settings.ts.
import type { Sql } from './sql.js';
import type { SettingsStore } from '../types.js';

export class PgSettings implements SettingsStore {
  constructor(private readonly sql: Sql) {}

  async get(key: string): Promise<string | undefined> {
    const { rows } = await this.sql.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]);
    return rows[0]?.value;
  }

  async set(key: string, value: string): Promise<void> {
    await this.sql.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }

  async delete(key: string): Promise<void> {
    await this.sql.query('DELETE FROM settings WHERE key = $1', [key]);
  }
}
