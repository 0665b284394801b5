// What a CONNECT is decided on — the token, its user and organisation, and the rule sets its rights
// are built from — read in one statement. Measured in the broker, the five separate reads this
// replaces cost 2–3× their micro-benchmark time in a connect storm (each autocommit read takes the
// WAL locks anew, each row becomes an object); one statement is one snapshot and one lock.
import type { Db } from './db.js';
import type { Rules } from '../acl/rights.js';
import { toOrg, type Org } from './orgs.js';
import { limitsOfRow, ORG_LIMITS } from '../orgLimits.js';
import { rulesOfRow } from './ruleSets.js';
import { toToken, type TokenRecord, type TokenRow } from './tokens.js';
import { toUser, type User } from './users.js';

export interface ConnectRecord {
  token: TokenRecord;
  user: User | undefined;
  org: Org | undefined;
  /** The org's default rules (undefined: it has none). */
  defaultRules: Rules | undefined;
  /** The named integration's rules: undefined when the token names none, null when it or its rule set is gone. */
  integrationRules: Rules | null | undefined;
}

export interface ConnectRow extends TokenRow {
  u_user_id: string | null; u_user_email: string | null; u_created_at: number | null;
  o_name: string | null; o_uuid: string; o_created_at: number; o_default_ttl: number; o_min_ttl: number; o_max_ttl: number;
  o_max_lifetime: number;
  /** The org's limit columns as `o_<field>` (ORG_LIMITS). */
  [orgLimit: `o_${string}`]: unknown;
  d_publish: string | null; d_subscribe: string; d_presence: number; d_history: number; d_deny_publish: string; d_deny_subscribe: string;
  r_publish: string | null; r_subscribe: string; r_presence: number; r_history: number; r_deny_publish: string; r_deny_subscribe: string;
}

export function toConnectRecord(r: ConnectRow): ConnectRecord {
  return {
    token: toToken(r),
    user: r.u_user_id === null ? undefined
      : toUser({ org_id: r.org_id, user_ref: r.user_ref, user_id: r.u_user_id, user_email: r.u_user_email, created_at: r.u_created_at! }),
    org: r.o_name === null ? undefined : {
      ...toOrg({
        id: r.org_id, uuid: r.o_uuid, name: r.o_name, created_at: r.o_created_at, default_ttl_seconds: r.o_default_ttl, min_ttl_seconds: r.o_min_ttl,
        max_ttl_seconds: r.o_max_ttl, max_token_lifetime_seconds: r.o_max_lifetime,
      }),
      limits: limitsOfRow(r as unknown as Record<string, unknown>, 'o_'),
    },
    defaultRules: r.d_publish === null ? undefined
      : rulesOfRow({ publish: r.d_publish, subscribe: r.d_subscribe, presence: r.d_presence, history: r.d_history, deny_publish: r.d_deny_publish, deny_subscribe: r.d_deny_subscribe }),
    integrationRules: r.integration_id === null ? undefined
      : r.r_publish === null ? null : rulesOfRow({
        publish: r.r_publish, subscribe: r.r_subscribe, presence: r.r_presence, history: r.r_history, deny_publish: r.r_deny_publish, deny_subscribe: r.r_deny_subscribe,
      }),
  };
}

/**
 * The one statement a CONNECT is decided on, for both stores; `param` is the driver's placeholder
 * for the password hash (`?` or `$1`).
 */
export const connectRecordSql = (param: string) => `SELECT t.*,
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
      WHERE p.password_hash = ${param}`;

export class ConnectRecordReader {
  private readonly byHashStmt;

  constructor(db: Db) {
    this.byHashStmt = db.prepare<[string], ConnectRow>(connectRecordSql('?'));
  }

  byPasswordHash(hash: string): ConnectRecord | undefined {
    const r = this.byHashStmt.get(hash);
    return r && toConnectRecord(r);
  }
}
