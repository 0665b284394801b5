// Why an identity token was refused. The HTTP answer only distinguishes token_expired from
// invalid_token (both 401); the reason is for logs, audit rows and tests, so a test that expects
// "algorithm not allowed" cannot pass because the signature happened to fail instead.
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
   * The provider's JWKS (or its discovery document) could not be fetched or read. Still a 401: an
   * identity that cannot be checked is not accepted (Envoy's jwt_authn does the same, envoy#13705).
   */
  | 'keys_unavailable';

export class IdentityTokenError extends SignalGateError {
  readonly reason: IdentityRefusal;

  constructor(reason: IdentityRefusal, message: string, options: { cause?: unknown } = {}) {
    super(reason === 'expired' ? 'token_expired' : 'invalid_token', message);
    this.name = 'IdentityTokenError';
    this.reason = reason;
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

export const refuse = (reason: IdentityRefusal, message: string, cause?: unknown) =>
  new IdentityTokenError(reason, message, cause === undefined ? {} : { cause });
