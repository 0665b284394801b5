// What a CONNECT is decided on, read in one statement on PostgreSQL: the statement of
// ../connectRecords.ts (the CONNECT hot path: one round trip, one snapshot).
import type { Sql } from './sql.js';
import type { ConnectRecordStore } from '../types.js';
import { ORG_LIMITS } from '../../orgLimits.js';
import { toConnectRecord, type ConnectRecord, type ConnectRow } from '../connectRecords.js';

const BY_PASSWORD_HASH = `SELECT t.*,
    u.user_id AS u_user_id, u.user_email AS u_user_email, u.created_at AS u_created_at,
    o.name AS o_name, o.uuid AS o_uuid, o.created_at AS o_created_at, o.default_ttl_seconds AS o_default_ttl,
    o.min_ttl_seconds AS o_min_ttl, o.max_ttl_seconds AS o_max_ttl, o.max_token_lifetime_seconds AS o_max_lifetime,
    ${ORG_LIMITS.map((l) => `o.${l.field} AS o_${l.field}`).join(', ')},
    d.publish AS d_publish, d.subscribe AS d_subscribe, d.presence AS d_presence, d.history AS d_history,
    d.deny_publish AS d_deny_publish, d.deny_subscribe AS d_deny_subscribe,
    r.publish AS r_publish, r.subscribe AS r_subscribe, r.presence AS r_presence, r.history AS r_history,
    r.deny_publish AS r_deny_publish, r.deny_subscribe AS r_deny_subscribe
  FROM token_passwords p
  JOIN tokens t ON t.id = p.token_id
  LEFT JOIN users u ON u.org_id = t.org_id AND u.user_ref = t.user_ref
  LEFT JOIN orgs o ON o.id = t.org_id
  LEFT JOIN rule_sets d ON d.org_id = t.org_id AND d.is_default = 1
  LEFT JOIN integrations i ON i.org_id = t.org_id AND i.id = t.integration_id
  LEFT JOIN rule_sets r ON r.id = i.rule_set_id AND r.org_id = t.org_id
  WHERE p.password_hash = $1`;

export class PgConnectRecords implements ConnectRecordStore {
  constructor(private readonly sql: Sql) {}

  async byPasswordHash(hash: string): Promise<ConnectRecord | undefined> {
    const { rows } = await this.sql.query<ConnectRow>(BY_PASSWORD_HASH, [hash]);
    return rows[0] && toConnectRecord(rows[0]);
  }
}
