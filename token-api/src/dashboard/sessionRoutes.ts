// Sign-in, "who am I" and sign-out for the dashboard (`/dashboard/api/session`). Internal to the
// dashboard, so not in the OpenAPI document; everything else the page does is the admin API.
import { Router, type Request, type RequestHandler } from 'express';
import { SignalGateError, credentialKindOf, type Services } from '@signalgate/shared';
import type { RateLimits } from '../http/rateLimits.js';
import { requestContextOf } from '../http/requestContext.js';
import { auditFailure, type ManagementCaller } from '../http/callers.js';
import type { DashboardSession } from './sessionStore.js';
import { clearSessionCookie, isSameOrigin, setSessionCookie, type DashboardAuth } from './sessionAuth.js';

interface Deps {
  services: Services;
  limits: RateLimits;
  dashboard: DashboardAuth;
  idleSeconds: number;
}

export function dashboardSessionRouter({ services, limits, dashboard, idleSeconds }: Deps, bodyParsers: RequestHandler[]): Router {
  const router = Router();

  const describe = async (caller: ManagementCaller, session: DashboardSession) => {
    const orgs = caller.kind === 'admin' ? await services.orgs.list() : [await services.orgs.get(caller.orgId)];
    return {
      caller: caller.kind === 'admin' ? { kind: 'admin' as const } : { kind: 'org' as const, organization_id: caller.orgId, key_id: caller.apiKeyId },
      organizations: orgs.map((o) => ({ organization_id: o.id, name: o.name })),
      csrf_token: session.csrfToken,
      idle_timeout_seconds: idleSeconds,
    };
  };

  async function verify(req: Request, key: string) {
    return limits.guardAuth(req, async (slow) => {
      if (credentialKindOf(key) === 'org_key') {
        const k = await services.keys.verify(key, slow);
        return { kind: 'org' as const, orgId: k.orgId, apiKeyId: k.id };
      }
      await services.admin.verify(key, slow);
      return dashboard.callerFromAdmin();
    }, auditFailure(services, req, '/dashboard/api/session'));
  }

  router.post('/dashboard/api/session', ...bodyParsers, async (req, res) => {
    // Login CSRF: another site must not sign a victim's browser into the attacker's organisation.
    if (!isSameOrigin(req)) throw new SignalGateError('forbidden', 'sign-in from another origin refused');
    const key = (req.body as { key?: unknown } | undefined)?.key;
    if (typeof key !== 'string' || key.length === 0 || key.length > 512) throw new SignalGateError('invalid_request', 'key: the admin key or an organization secret key (sk_…) is required');
    const caller = await verify(req, key.trim());
    const { id, session } = dashboard.store.create(caller, Date.now());
    const ctx = requestContextOf(req, caller.kind === 'org' ? caller.apiKeyId : undefined);
    await services.store.audit.record({
      event: 'dashboard.signed_in', orgId: caller.kind === 'org' ? caller.orgId : undefined, ip: ctx.ip, userAgent: ctx.userAgent,
      detail: caller.kind === 'org' ? { caller: 'org', key_id: caller.apiKeyId } : { caller: 'admin' },
    }, Date.now());
    setSessionCookie(req, res, id);
    const management: ManagementCaller = caller.kind === 'admin' ? { kind: 'admin' } : caller;
    res.status(201).json(await describe(management, session));
  });

  router.get('/dashboard/api/session', async (req, res) => {
    const found = await dashboard.current(req, res);
    if (!found) throw new SignalGateError('unauthorized', 'not signed in (or the key behind the session was revoked)');
    res.set('Cache-Control', 'no-store').json(await describe(found.caller, found.session));
  });

  // Reaches here only past the gate's CSRF check (DELETE is a state change).
  router.delete('/dashboard/api/session', async (req, res) => {
    const found = await dashboard.current(req);
    if (found) dashboard.store.destroy(found.id);
    clearSessionCookie(req, res);
    res.status(204).end();
  });

  return router;
}
