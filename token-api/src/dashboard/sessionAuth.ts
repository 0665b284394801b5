// Cookie sign-in for the dashboard on top of the admin API. The browser never holds the key after
// sign-in: an HttpOnly, SameSite=Strict cookie names a server-side session, and every request
// re-checks that the key behind it still works (a revoked org key or a changed admin key ends it).
// State changes need the session's synchronizer token (X-CSRF-Token) and, when the browser says
// where it comes from, the same Origin: SameSite alone does not stop another port of the same host.
import { timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { SignalGateError, isKeyUsable, type Services } from '@signalgate/shared';
import type { Authenticators, ManagementCaller } from '../http/callers.js';
import type { DashboardCaller, DashboardSession, DashboardSessionStore } from './sessionStore.js';

/** Plain-HTTP name; over HTTPS the `__Host-` prefix pins the cookie to this host, path / and Secure. */
export const SESSION_COOKIE = 'sg_dashboard';
export const SECURE_SESSION_COOKIE = '__Host-sg_dashboard';
export const CSRF_HEADER = 'x-csrf-token';
const ADMIN_KEY_SETTING = 'admin_key_hash';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function cookieValue(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const sessionIdOf = (req: Request) => cookieValue(req, SECURE_SESSION_COOKIE) ?? cookieValue(req, SESSION_COOKIE);

/** The origin this request was addressed to (honours X-Forwarded-Proto only behind a trusted proxy). */
export const ownOrigin = (req: Request) => `${req.protocol}://${req.get('host') ?? ''}`;

/** False when the browser says the request comes from another origin (Origin, else Referer). */
export function isSameOrigin(req: Request): boolean {
  const origin = req.get('origin');
  if (origin !== undefined) return origin === ownOrigin(req);
  const referer = req.get('referer');
  if (referer === undefined) return true;
  try {
    return new URL(referer).origin === ownOrigin(req);
  } catch {
    return false;
  }
}

function tokensEqual(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const csrfRefused = () => new SignalGateError('forbidden', 'cross-site request refused: missing or wrong CSRF token, or another origin');

const hasHeaderCredentials = (req: Request) => req.get('authorization') !== undefined || req.get('x-admin-key') !== undefined;

export class DashboardAuth {
  /** Callers established from a session cookie by `gate`, for this request only. */
  private readonly callers = new WeakMap<Request, ManagementCaller>();

  constructor(private readonly services: Services, readonly store: DashboardSessionStore) {}

  async callerFromAdmin(): Promise<DashboardCaller> {
    return { kind: 'admin', adminKeyHash: (await this.services.store.settings.get(ADMIN_KEY_SETTING)) ?? '' };
  }

  /** The management caller a session stands for, or null when its key no longer works. */
  private async stillValid(caller: DashboardCaller, now: number): Promise<ManagementCaller | null> {
    if (caller.kind === 'admin') {
      const current = await this.services.store.settings.get(ADMIN_KEY_SETTING);
      return current !== undefined && current === caller.adminKeyHash ? { kind: 'admin' } : null;
    }
    const key = await this.services.store.apiKeys.get(caller.apiKeyId);
    if (!key || key.orgId !== caller.orgId || !isKeyUsable(key, now)) return null;
    if (!await this.services.store.orgs.get(caller.orgId)) return null;
    return { kind: 'org', orgId: caller.orgId, apiKeyId: caller.apiKeyId };
  }

  /** The request's live session and its caller; a session whose key stopped working is ended here. */
  async current(req: Request, res?: Response): Promise<{ id: string; session: DashboardSession; caller: ManagementCaller } | undefined> {
    const id = sessionIdOf(req);
    if (id === undefined) return undefined;
    const now = Date.now();
    const session = this.store.get(id, now);
    if (!session) return undefined;
    const caller = await this.stillValid(session.caller, now);
    if (!caller) {
      this.store.destroy(id);
      if (res) clearSessionCookie(req, res);
      return undefined;
    }
    return { id, session, caller };
  }

  /**
   * Runs before every route: a request carrying only the session cookie gets the session's caller,
   * and a state change must also pass the CSRF check — before the body is even parsed, so a forged
   * form post is refused with 403 rather than reaching any handler.
   */
  readonly gate: RequestHandler = async (req, res, next) => {
    if (hasHeaderCredentials(req) || sessionIdOf(req) === undefined) return next();
    const found = await this.current(req, res);
    if (!found) return next(); // the route answers 401 as for any caller without credentials
    if (!SAFE_METHODS.has(req.method) && !(isSameOrigin(req) && tokensEqual(req.get(CSRF_HEADER), found.session.csrfToken))) {
      return next(csrfRefused());
    }
    this.callers.set(req, found.caller);
    next();
  };

  /** Authenticators whose `management` also accepts a session established by `gate`. */
  wrap(auth: Authenticators): Authenticators {
    return {
      ...auth,
      management: (req: Request) => {
        const caller = hasHeaderCredentials(req) ? undefined : this.callers.get(req);
        return caller ? Promise.resolve(caller) : auth.management(req);
      },
    };
  }
}

export function setSessionCookie(req: Request, res: Response, id: string): void {
  res.cookie(req.secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE, id, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
}

export function clearSessionCookie(req: Request, res: Response): void {
  res.clearCookie(req.secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
}
