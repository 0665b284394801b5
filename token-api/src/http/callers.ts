// Who is calling: an organisation (its sk_/cs_ key), the operator (admin key, for every org), or
// an MQTT credential (tkn_ password) for the presence and history reads. Every attempt runs under
// the per-IP failed-authentication budget, and a failure leaves an audit row (never the secret).
import type { Request } from 'express';
import { EffectiveRights, SignalGateError, credentialKindOf, type BeforeSlowCheck, type Org, type Services, type TokenRecord, type User } from '@signalgate/shared';
import type { RateLimits } from './rateLimits.js';
import { requestContextOf } from './requestContext.js';

export interface OrgCaller { kind: 'org'; orgId: string; apiKeyId: string }
export interface AdminCaller { kind: 'admin' }
export interface MqttCaller { kind: 'mqtt'; orgId: string; token: TokenRecord; user: User; rights: EffectiveRights }
export type ManagementCaller = OrgCaller | AdminCaller;
export type ReaderCaller = OrgCaller | MqttCaller;

export function bearerOf(req: Request): string | undefined {
  const header = req.get('authorization');
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

const missing = (what: string) => new SignalGateError('unauthorized', `${what} is required`);

/** An org caller may act only on its own organisation. */
export function assertOrgAccess(caller: ManagementCaller | ReaderCaller, orgId: string): void {
  if (caller.kind !== 'admin' && caller.orgId !== orgId) {
    throw new SignalGateError('wrong_organization', 'this API key belongs to another organization');
  }
}

/**
 * Where every org-scoped admin route starts: the caller may act on `orgId` (403 otherwise) and the
 * organisation exists (404 otherwise).
 */
export function orgAccessFor(services: Services) {
  return async (caller: ManagementCaller | ReaderCaller, orgId: string): Promise<Org> => {
    assertOrgAccess(caller, orgId);
    return services.orgs.get(orgId);
  };
}

export function createAuthenticators(services: Services, limits: RateLimits) {
  const audited = async <T>(req: Request, route: string, step: (beforeSlowCheck: BeforeSlowCheck) => Promise<T> | T): Promise<T> =>
    limits.guardAuth(req, step, auditFailure(services, req, route));

  async function verifyOrgKey(secret: string, beforeSlowCheck: BeforeSlowCheck): Promise<OrgCaller> {
    const key = await services.keys.verify(secret, beforeSlowCheck);
    return { kind: 'org', orgId: key.orgId, apiKeyId: key.id };
  }

  async function verifyMqttPassword(password: string): Promise<MqttCaller> {
    // No client id on an HTTP call: rules using ${client_id} grant nothing here.
    const verdict = await services.connect.checkPassword(password);
    if (!verdict.ok) throw new SignalGateError('unauthorized', 'invalid, expired or revoked MQTT credential');
    return { kind: 'mqtt', orgId: verdict.token.orgId, token: verdict.token, user: verdict.user, rights: verdict.rights };
  }

  return {
    /** Verifies a secret key given in a request body (seed 000's /v2/tokens/create). */
    secretKey: (req: Request, secret: string) => audited(req, req.path, (slow) => verifyOrgKey(secret, slow)),

    /** `Authorization: Bearer sk_…` (or `cs_…`); `fallback` is a key from the body, if the route allows one. */
    orgKey: (req: Request, fallback?: string) =>
      audited(req, req.path, (slow) => {
        const secret = bearerOf(req) ?? fallback;
        if (secret === undefined) throw missing("the organization's secret key (Authorization: Bearer sk_…)");
        return verifyOrgKey(secret, slow);
      }),

    /** The admin key (Bearer adm_… or X-Admin-Key), or an org key restricted to its own org. */
    management: (req: Request): Promise<ManagementCaller> =>
      audited(req, req.path, async (slow) => {
        const header = req.get('x-admin-key');
        const bearer = bearerOf(req);
        if (header !== undefined) {
          await services.admin.verify(header, slow);
          return { kind: 'admin' } as const;
        }
        if (bearer === undefined) throw missing('the admin key (Authorization: Bearer adm_… or X-Admin-Key) or an organization key');
        if (credentialKindOf(bearer) === 'org_key') return verifyOrgKey(bearer, slow);
        await services.admin.verify(bearer, slow);
        return { kind: 'admin' } as const;
      }),

    /** An org key or a live MQTT credential (presence and history reads). */
    reader: (req: Request): Promise<ReaderCaller> =>
      audited(req, req.path, async (slow) => {
        const bearer = bearerOf(req);
        if (bearer === undefined) throw missing('Authorization: Bearer sk_… or Bearer tkn_…');
        if (credentialKindOf(bearer) === 'mqtt_password') return verifyMqttPassword(bearer);
        return verifyOrgKey(bearer, slow);
      }),
  };
}

export type Authenticators = ReturnType<typeof createAuthenticators>;

export async function adminOnly(caller: Promise<ManagementCaller>): Promise<AdminCaller> {
  const c = await caller;
  if (c.kind !== 'admin') throw new SignalGateError('forbidden', 'this route needs the admin key');
  return c;
}

/** The audit row of a counted authentication failure (never the secret). */
export function auditFailure(services: Services, req: Request, route: string) {
  return async (err: SignalGateError): Promise<void> => {
    if (err.status !== 401) return;
    const ctx = requestContextOf(req);
    await services.store.audit.record({ event: 'auth.failed', ip: ctx.ip, userAgent: ctx.userAgent, detail: { route, reason: err.code } }, Date.now());
  };
}
