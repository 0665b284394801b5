// Reading identity tokens' claims: the unverified issuer peek that picks a provider, and the mapping
// of verified claims to the SignalGate user the token service mints for.
import { decodeJwt } from 'jose';
import { refuse } from './refusal.js';
import { USER_ID_RULE, isEmailAddress, isValidUserId } from '../credentials/users.js';
import type { ProviderConfig } from './presets.js';

export interface VerifiedIdentity {
  userId: string;
  /** null when the claim is absent, not an email address, or email_verified is present and not true. */
  email: string | null;
  /** Every claim of the verified token. */
  claims: Record<string, unknown>;
}

/** Far above real IdP tokens (1-4 KiB); bounds what is parsed before any signature check. */
export const MAX_IDENTITY_TOKEN_LENGTH = 16 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

// The rules TokenService.mint applies to user_id and user_email (credentials/users.ts), so an
// identity that verifies never fails at mint.

/** Whether `jwt` has the shape of a compact JWS (three base64url parts) within the size bound. */
export function isCompactJws(jwt: string): boolean {
  return jwt.length <= MAX_IDENTITY_TOKEN_LENGTH && COMPACT_JWS.test(jwt);
}

/**
 * The `iss` of a token, read without verifying anything: only to choose which configured provider
 * verifies it. null when the string is not a compact JWS with a string `iss`.
 */
export function unverifiedIssuerOf(jwt: string): string | null {
  if (typeof jwt !== 'string' || !isCompactJws(jwt)) return null;
  try {
    const { iss } = decodeJwt(jwt);
    return typeof iss === 'string' && iss.length > 0 ? iss : null;
  } catch {
    return null;
  }
}

/** The SignalGate identity in verified `claims`, per the provider's claim names. */
export function identityOf(provider: Pick<ProviderConfig, 'userIdClaim' | 'emailClaim'>, claims: Record<string, unknown>): VerifiedIdentity {
  const userId = claims[provider.userIdClaim];
  if (typeof userId !== 'string' || !isValidUserId(userId)) {
    throw refuse('bad_claim', `token claim "${provider.userIdClaim}" must be a string of ${USER_ID_RULE} (it becomes the MQTT user id)`);
  }
  return { userId, email: emailOf(claims[provider.emailClaim], claims['email_verified']), claims };
}

/**
 * The email is optional, so a value SignalGate cannot use drops it instead of refusing the user:
 * not a string, not address-shaped, or not positively verified. An unverified address must not
 * fill ${user_email} in ACL rules: at some providers anyone can sign up with another person's
 * address. When the token carries `email_verified`, only `true` or the string "true" in any case
 * (Cognito sends strings) keeps the email; false, 0, "False", "no", null or anything else drops
 * it. Without the claim the email is used: Supabase access tokens carry no
 * top-level email_verified (supabase.com/docs/guides/auth/jwt-fields), nor do many custom
 * tokens; whether such an address was confirmed is the provider's configuration.
 */
function emailOf(value: unknown, verified: unknown): string | null {
  if (typeof value !== 'string' || !isEmailAddress(value)) return null;
  if (verified === undefined) return value;
  return verified === true || (typeof verified === 'string' && verified.toLowerCase() === 'true') ? value : null;
}
