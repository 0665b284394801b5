// Errors the SDK raises. `code` is machine-readable: the token service's own `error` code for HTTP
// failures (`invalid_token`, `token_expired`, `provider_not_found`, `organization_not_found`,
// `rate_limited`, …; `http_<status>` when the body has none), `connack_4`/`connack_5` for a credential
// refusal (also under MQTT 5, where the wire says 0x86/0x87), or one of the SDK's codes below.
// Token-service failures also carry `type`, the official SDK's coarser classification (its
// `error.type`, one of TOKEN_ERRORS), so code written against `@cloudsignal/mqtt-client` that
// branches on it keeps working.

export type ClientErrorCode =
  | 'secret_key_in_browser'
  | 'invalid_options'
  | 'token_service_unreachable'
  | 'invalid_token_response'
  | 'auth_failed'
  | 'subscription_denied'
  | 'connection_failed'
  | 'destroyed'
  | 'mqtt5_required'
  | 'request_timeout'
  | 'not_a_request'
  | string;

/** The official SDK's token error types (`TOKEN_ERRORS` of `@cloudsignal/mqtt-client`). */
export const TOKEN_ERRORS = {
  NETWORK_ERROR: 'NETWORK_ERROR',
  AUTH_FAILED: 'AUTH_FAILED',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  INVALID_RESPONSE: 'INVALID_RESPONSE',
  REFRESH_FAILED: 'REFRESH_FAILED',
  PROVIDER_NOT_FOUND: 'PROVIDER_NOT_FOUND',
  ORG_NOT_FOUND: 'ORG_NOT_FOUND',
  RATE_LIMITED: 'RATE_LIMITED',
} as const;
export type TokenErrorType = (typeof TOKEN_ERRORS)[keyof typeof TOKEN_ERRORS];

/**
 * How the official SDK classifies a token-service answer that is not 2xx: by status, and by the
 * body's `error` code for 401 and 404 only. So a 404 `token_not_found` from a refresh counts as
 * ORG_NOT_FOUND there too; `code` keeps the precise reason.
 */
export function tokenErrorTypeOf(status: number, code: string | undefined): TokenErrorType {
  switch (status) {
    case 401:
      return code === 'token_expired' ? TOKEN_ERRORS.TOKEN_EXPIRED : TOKEN_ERRORS.AUTH_FAILED;
    case 404:
      return code === 'provider_not_found' ? TOKEN_ERRORS.PROVIDER_NOT_FOUND : TOKEN_ERRORS.ORG_NOT_FOUND;
    case 429:
      return TOKEN_ERRORS.RATE_LIMITED;
    default:
      return TOKEN_ERRORS.INVALID_RESPONSE;
  }
}

export class CloudSignalError extends Error {
  readonly code: ClientErrorCode;
  /** HTTP status for token-service failures; for broker refusals the CONNACK code as on the wire (4/5, or 0x86/0x87 under MQTT 5). */
  readonly status: number | undefined;
  /** Token-service failures only: the official SDK's classification (TOKEN_ERRORS). */
  readonly type: TokenErrorType | undefined;

  constructor(code: ClientErrorCode, message: string, status?: number, type?: TokenErrorType) {
    super(message);
    this.name = 'CloudSignalError';
    this.code = code;
    this.status = status;
    this.type = type;
  }
}

/**
 * The MQTT 3.1.1 return code of a credential refusal, whichever protocol level carried it: 4 or
 * 0x86 (bad user name or password: unknown or rotated), 5 or 0x87 (not authorised: expired or
 * revoked on SignalGate). The two levels' codes never overlap, so no protocol context is needed.
 */
export function credentialRefusal(code: unknown): 4 | 5 | undefined {
  switch (code) {
    case 4:
    case 0x86:
    case 'connack_4':
      return 4;
    case 5:
    case 0x87:
    case 'connack_5':
      return 5;
    default:
      return undefined;
  }
}

/** A broker refusal that fresh credentials may cure (seed 004). */
export const isAuthRefusal = (err: unknown): boolean => credentialRefusal((err as { code?: unknown } | null)?.code) !== undefined;
