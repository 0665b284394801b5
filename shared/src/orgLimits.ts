// Every per-organisation limit, once: its name in code, its name on the wire, in the database and on
// the command line (`field`, `--field-with-dashes`), what it bounds and its default for a new
// organisation. The store, the admin API, the CLI and the dashboard derive from this table, so a
// new limit is one row here, one migration and its enforcement.

export interface OrgLimits {
  maxConnections: number | null;
  maxMessagesPerSecond: number | null;
  maxBytesPerSecond: number | null;
  maxPayloadBytes: number | null;
  tokenMessagesPerSecond: number | null;
  /** New CONNECTs per second across the organisation; beyond it the broker refuses the CONNECT. */
  maxConnectsPerSecond: number | null;
  /** Subscriptions one connection may hold; past it a filter is refused (SUBACK 0x97). */
  maxSubscriptionsPerConnection: number | null;
  /** Retained messages the organisation may keep, and their bytes; past them a retained PUBLISH is refused (0x97). */
  maxRetainedMessages: number | null;
  maxRetainedBytes: number | null;
  /** Messages one persistent session may have queued (offline, or awaiting acknowledgement), and their bytes. */
  maxQueuedMessages: number | null;
  maxQueuedBytes: number | null;
  /** Topics and payload bytes the organisation's message history keeps; past them a message is not recorded. */
  maxHistoryTopics: number | null;
  maxHistoryBytes: number | null;
}

export interface OrgLimitSpec {
  key: keyof OrgLimits;
  /** snake_case: the API field, the column of `orgs`, and (with dashes) the CLI option. */
  field: string;
  help: string;
  /** What a new organisation gets (null: no limit); the migration that added the column says the same. */
  default: number | null;
}

export const ORG_LIMITS: readonly OrgLimitSpec[] = [
  { key: 'maxConnections', field: 'max_connections', help: 'concurrent MQTT connections', default: null },
  { key: 'maxMessagesPerSecond', field: 'max_messages_per_second', help: 'messages per second across the organisation', default: null },
  { key: 'maxBytesPerSecond', field: 'max_bytes_per_second', help: 'payload bytes per second across the organisation', default: null },
  { key: 'maxPayloadBytes', field: 'max_payload_bytes', help: 'largest PUBLISH payload', default: null },
  { key: 'tokenMessagesPerSecond', field: 'token_messages_per_second', help: 'messages per second per connection', default: null },
  { key: 'maxConnectsPerSecond', field: 'max_connects_per_second', help: 'new MQTT CONNECTs per second across the organisation (then CONNACK 0x9F / 3)', default: null },
  { key: 'maxSubscriptionsPerConnection', field: 'max_subscriptions_per_connection', help: 'subscriptions one connection may hold (then SUBACK 0x97 / 0x80)', default: 1000 },
  { key: 'maxRetainedMessages', field: 'max_retained_messages', help: 'retained messages the organisation keeps (then PUBACK 0x97)', default: 10_000 },
  { key: 'maxRetainedBytes', field: 'max_retained_bytes', help: 'bytes of retained messages the organisation keeps (then PUBACK 0x97)', default: 64 * 1024 * 1024 },
  { key: 'maxQueuedMessages', field: 'max_queued_messages', help: 'messages one persistent session keeps queued (past it a message is not queued for it)', default: 1000 },
  { key: 'maxQueuedBytes', field: 'max_queued_bytes', help: 'bytes one persistent session keeps queued', default: 16 * 1024 * 1024 },
  { key: 'maxHistoryTopics', field: 'max_history_topics', help: 'topics the message history keeps (past it a new topic is not recorded)', default: 1000 },
  { key: 'maxHistoryBytes', field: 'max_history_bytes', help: 'payload bytes the message history keeps (past it messages are not recorded)', default: 64 * 1024 * 1024 },
];

/** The limits of a row of `orgs` (or of any record with the limit fields as keys). */
export function limitsOfRow(row: Readonly<Record<string, unknown>>, prefix = ''): OrgLimits {
  return Object.fromEntries(ORG_LIMITS.map((l) => [l.key, (row[prefix + l.field] as number | null | undefined) ?? null])) as unknown as OrgLimits;
}

/** The limits as API fields (snake_case). */
export function limitFields(limits: OrgLimits): Record<string, number | null> {
  return Object.fromEntries(ORG_LIMITS.map((l) => [l.field, limits[l.key]]));
}

/** API fields (snake_case) given in a request → the limits they change. */
export function limitsFromFields(fields: Readonly<Record<string, number | null | undefined>>): Partial<OrgLimits> {
  const out: Partial<Record<keyof OrgLimits, number | null>> = {};
  for (const l of ORG_LIMITS) if (fields[l.field] !== undefined) out[l.key] = fields[l.field]!;
  return out;
}
