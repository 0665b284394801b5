// What a CONNECT is decided on, read in one statement on PostgreSQL: the statement of
// ../connectRecords.ts (the CONNECT hot path: one round trip, one snapshot).
import type { Sql } from './sql.js';
import type { ConnectRecordStore } from '../types.js';
import { connectRecordSql, toConnectRecord, type ConnectRecord, type ConnectRow } from '../connectRecords.js';

const BY_PASSWORD_HASH = connectRecordSql('$1');

export class PgConnectRecords implements ConnectRecordStore {
  constructor(private readonly sql: Sql) {}

  async byPasswordHash(hash: string): Promise<ConnectRecord | undefined> {
    const { rows } = await this.sql.query<ConnectRow>(BY_PASSWORD_HASH, [hash]);
    return rows[0] && toConnectRecord(rows[0]);
  }
}
