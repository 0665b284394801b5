// Errors the SDK raises. `code` is machine-readable: the token service's own code for HTTP
// failures, `connack_4`/`connack_5` for a credential refusal (also under MQTT 5, where the wire
// says 0x86/0x87), or one of the SDK's codes below.

export type ClientErrorCode =
  | 'secret_key_in_browser'
  | 'invalid_options'
  | 'token_service_unreachable'
  | 'wrong_organization'
  | 'auth_failed'
  | 'subscription_denied'
  | 'connection_failed'
  | 'destroyed'
  | 'mqtt5_required'
  | 'request_timeout'
  | 'not_a_request'
  | string;

export class CloudSignalError extends Error {
  readonly code: ClientErrorCode;
  /** HTTP status for token-service failures; for broker refusals the CONNACK code as on the wire (4/5, or 0x86/0x87 under MQTT 5). */
  readonly status: number | undefined;

  constructor(code: ClientErrorCode, message: string, status?: number) {
    super(message);
    this.name = 'CloudSignalError';
    this.code = code;
    this.status = status;
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
