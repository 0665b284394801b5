// Typed errors for every failure an HTTP caller can cause. Each carries a machine code and an HTTP
// status; the token API's error handler reads them here and nowhere else. MQTT refusals have their
// own tables in mqtt/reasonCodes.ts.

export type ErrorCode =
  | 'invalid_request'
  | 'invalid_json'
  | 'unauthorized'
  | 'invalid_api_key'
  | 'forbidden'
  | 'scope_exceeds_organization'
  | 'wrong_organization'
  | 'not_found'
  | 'organization_not_found'
  | 'token_not_found'
  | 'integration_not_found'
  | 'rule_set_not_found'
  | 'api_key_not_found'
  | 'conflict'
  | 'token_expired'
  | 'token_revoked'
  | 'invalid_token_password'
  | 'invalid_token'
  | 'provider_not_found'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'not_ready'
  | 'server_busy'
  | 'provider_unavailable'
  | 'store_unavailable'
  | 'internal_error';

const statusOf: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_json: 400,
  unauthorized: 401,
  invalid_api_key: 401,
  invalid_token_password: 401,
  invalid_token: 401,
  token_expired: 401,
  token_revoked: 401,
  forbidden: 403,
  scope_exceeds_organization: 403,
  wrong_organization: 403,
  not_found: 404,
  organization_not_found: 404,
  token_not_found: 404,
  integration_not_found: 404,
  rule_set_not_found: 404,
  api_key_not_found: 404,
  provider_not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  quota_exceeded: 403,
  not_ready: 503,
  server_busy: 503,
  provider_unavailable: 503,
  store_unavailable: 503,
  internal_error: 500,
};

export class SignalGateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** The request field at fault, for 400s. */
  readonly field: string | undefined;
  /** Seconds until a rate-limited caller may retry. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, extra: { field?: string; retryAfterSeconds?: number } = {}) {
    super(message);
    this.name = 'SignalGateError';
    this.code = code;
    this.status = statusOf[code];
    this.field = extra.field;
    this.retryAfterSeconds = extra.retryAfterSeconds;
  }
}

export const invalid = (field: string, message: string) =>
  new SignalGateError('invalid_request', `${field}: ${message}`, { field });
export const notFound = (code: ErrorCode, message: string) => new SignalGateError(code, message);
export const forbidden = (code: ErrorCode, message: string) => new SignalGateError(code, message);

export function isSignalGateError(err: unknown): err is SignalGateError {
  return err instanceof SignalGateError;
}

/** The database cannot answer (connection lost, restarting): 503 / CONNACK 3, never "bad credentials". */
export const storeUnavailable = (cause: unknown) => {
  const err = new SignalGateError('store_unavailable', 'database unavailable; retry shortly', { retryAfterSeconds: 1 });
  (err as { cause?: unknown }).cause = cause;
  return err;
};
