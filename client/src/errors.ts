// Errors the SDK raises. `code` is machine-readable: the token service's own code for HTTP
// failures, `connack_<n>` for a broker refusal, or one of the SDK's codes below.

export type ClientErrorCode =
  | 'secret_key_in_browser'
  | 'invalid_options'
  | 'token_service_unreachable'
  | 'wrong_organization'
  | 'auth_failed'
  | 'subscription_denied'
  | 'connection_failed'
  | 'destroyed'
  | string;

export class CloudSignalError extends Error {
  readonly code: ClientErrorCode;
  /** HTTP status for token-service failures, the CONNACK return code for broker refusals. */
  readonly status: number | undefined;

  constructor(code: ClientErrorCode, message: string, status?: number) {
    super(message);
    this.name = 'CloudSignalError';
    this.code = code;
    this.status = status;
  }
}

/** CONNACK 4 (bad username or password) and 5 (not authorised: expired or revoked on SignalGate). */
export const isAuthRefusal = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 4 || code === 5 || code === 134 || code === 135 || code === 'connack_4' || code === 'connack_5';
};
