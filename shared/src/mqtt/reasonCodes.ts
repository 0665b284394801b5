// Every way the broker refuses a client or ends its session, with the code each protocol level
// puts on the wire. The hooks, the metrics labels, the tests and the README read these tables and
// nowhere else (in the manner of aedes' lib/constants.js and NATS' one refusal function per reason).

/** MQTT 5 reason codes SignalGate sends [MQTT-2.4]. */
export const ReasonCode = {
  success: 0x00,
  unspecifiedError: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  unsupportedProtocolVersion: 0x84,
  clientIdentifierNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverBusy: 0x89,
  serverShuttingDown: 0x8b,
  sessionTakenOver: 0x8e,
  topicNameInvalid: 0x90,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  administrativeAction: 0x98,
  connectionRateExceeded: 0x9f,
  maximumConnectTime: 0xa0,
} as const;

/** A CONNACK return code of MQTT 3.1.1 [MQTT-3.2.2.3]. */
export type ConnackReturnCode = 1 | 2 | 3 | 4 | 5;

/**
 * Every reason a CONNECT is refused. 3.1.1 clients get `v3`, MQTT 5 clients `v5`. Expired and revoked
 * credentials are 5 / 0x87 because SDKs (seed 004, the official SDK) fetch fresh credentials on
 * them; unknown or wrong ones are 4 / 0x86. Limits and failures are never 4/5: an SDK would mint
 * again in a loop instead of backing off.
 */
export const CONNECT_REFUSALS = {
  unsupported_protocol_version: { v3: 1, v5: ReasonCode.unsupportedProtocolVersion },
  malformed_username: { v3: 4, v5: ReasonCode.badUserNameOrPassword },
  bad_credentials: { v3: 4, v5: ReasonCode.badUserNameOrPassword },
  expired: { v3: 5, v5: ReasonCode.notAuthorized },
  revoked: { v3: 5, v5: ReasonCode.notAuthorized },
  client_id_too_long: { v3: 2, v5: ReasonCode.clientIdentifierNotValid },
  /** Ill-formed UTF-8 in the client id (it would decode into another client's id). */
  client_id_invalid: { v3: 2, v5: ReasonCode.clientIdentifierNotValid },
  /** The client id names a session (connected or stored) of another user of the organisation. */
  client_id_taken: { v3: 2, v5: ReasonCode.clientIdentifierNotValid },
  org_connection_limit: { v3: 3, v5: ReasonCode.quotaExceeded },
  org_connect_rate: { v3: 3, v5: ReasonCode.connectionRateExceeded },
  /**
   * A `server@<org>` login from an address that used up SIGNALGATE_AUTH_FAILURES_PER_IP this minute:
   * refused before argon2 runs. A rate, not bad credentials: the right key is refused too until the
   * window ends, and 4/0x86 would tell a guesser nothing new while hiding the limit from a backend.
   */
  auth_failure_budget: { v3: 3, v5: ReasonCode.connectionRateExceeded },
  /** Too many key checks (argon2) under way in this process (SIGNALGATE_ARGON2_CONCURRENCY / _QUEUE). */
  server_busy: { v3: 3, v5: ReasonCode.serverBusy },
  connection_closed: { v3: 3, v5: ReasonCode.serverUnavailable },
  /** The database could not answer (store_unavailable): "try later", never bad credentials (an SDK would re-mint). */
  store_unavailable: { v3: 3, v5: ReasonCode.serverUnavailable },
  internal_error: { v3: 3, v5: ReasonCode.serverUnavailable },
} as const satisfies Record<string, { v3: ConnackReturnCode; v5: number }>;
export type ConnectRefusal = keyof typeof CONNECT_REFUSALS;

/**
 * Every reason SignalGate ends a live session. MQTT 5 clients get a DISCONNECT with the code
 * [MQTT-3.14.2.1]; 3.1.1 has no server DISCONNECT, so their connection is closed.
 */
export const SESSION_ENDS = {
  expired: ReasonCode.maximumConnectTime,
  revoked: ReasonCode.notAuthorized,
  kicked: ReasonCode.administrativeAction,
  taken_over: ReasonCode.sessionTakenOver,
  quota_exceeded: ReasonCode.quotaExceeded,
  denied_publish: ReasonCode.notAuthorized,
  too_many_unacknowledged: ReasonCode.receiveMaximumExceeded,
  malformed_packet: ReasonCode.malformedPacket,
  protocol_error: ReasonCode.protocolError,
  broker_shutdown: ReasonCode.serverShuttingDown,
} as const satisfies Record<string, number>;
export type SessionEnd = keyof typeof SESSION_ENDS;

/**
 * Every reason a PUBLISH is refused: the PUBACK/PUBREC reason code an MQTT 5 client gets at QoS 1/2
 * (3.1.1 has no negative acknowledgement: the message is dropped behind a plain one).
 */
export const PUBLISH_DENIALS = {
  acl: ReasonCode.notAuthorized,
  response_topic: ReasonCode.notAuthorized,
  invalid_topic: ReasonCode.topicNameInvalid,
  payload_size: ReasonCode.quotaExceeded,
  token_messages: ReasonCode.quotaExceeded,
  org_messages: ReasonCode.quotaExceeded,
  org_bytes: ReasonCode.quotaExceeded,
  /** max_retained_messages / max_retained_bytes of the organisation. */
  retained_quota: ReasonCode.quotaExceeded,
} as const satisfies Record<string, number>;
export type PublishDenial = keyof typeof PUBLISH_DENIALS;

/** SUBACK code for a refused filter: 0x80 in 3.1.1 [MQTT-3.9.3], 0x87 (not authorized) in 5. */
export const SUBSCRIBE_DENIED = { v3: 0x80, v5: ReasonCode.notAuthorized } as const;
/** SUBACK code for a filter past max_subscriptions_per_connection: 0x80 in 3.1.1, 0x97 (quota exceeded) in 5. */
export const SUBSCRIBE_QUOTA = { v3: 0x80, v5: ReasonCode.quotaExceeded } as const;
