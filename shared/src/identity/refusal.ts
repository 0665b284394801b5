// Why an identity token was refused. The HTTP answer distinguishes token_expired and invalid_token
// (both 401) and provider_unavailable (503, the keys could not be fetched); the reason is for logs,
// audit rows and tests, so a test that expects "algorithm not allowed" cannot pass because the
// signature happened to fail instead.
import { SignalGateError } from '../errors.js';

export type IdentityRefusal =
  | 'malformed'
  | 'algorithm_not_allowed'
  | 'bad_signature'
  | 'unknown_key'
  | 'expired'
  | 'missing_exp'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'bad_claim'
  /**
   * The provider's JWKS (or its discovery document) could not be fetched or read. The token is not
   * accepted (fail closed), but the answer is 503 provider_unavailable, not a 401: the credential
   * may be fine, and a client told "bad credentials" stops for good (the official SDK's AUTH_FAILED)
   * where a 503 can be retried (the argument of envoyproxy/envoy#41669).
   */
  | 'keys_unavailable';

export class IdentityTokenError extends SignalGateError {
  readonly reason: IdentityRefusal;
  /**
   * For logs only, never sent to the client (the HTTP answer carries `message`): what exactly went
   * wrong, e.g. the status or parse error of a key fetch. Those answers come from URLs an org
   * configured, possibly inside our network, so echoing them would make exchange a probe.
   */
  readonly diagnostic: string | undefined;

  constructor(reason: IdentityRefusal, message: string, options: { cause?: unknown; diagnostic?: string } = {}) {
    super(reason === 'expired' ? 'token_expired' : reason === 'keys_unavailable' ? 'provider_unavailable' : 'invalid_token', message);
    this.name = 'IdentityTokenError';
    this.reason = reason;
    this.diagnostic = options.diagnostic;
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

export const refuse = (reason: IdentityRefusal, message: string, cause?: unknown) =>
  new IdentityTokenError(reason, message, cause === undefined ? {} : { cause });

/** keys_unavailable: `message` says which URL failed and nothing else; `diagnostic` says why, for logs. */
export const keysUnavailable = (message: string, diagnostic: string, cause?: unknown) =>
  new IdentityTokenError('keys_unavailable', message, cause === undefined ? { diagnostic } : { cause, diagnostic });
