// The demo's own login: a signed-in user is a random session id in an HttpOnly cookie. Your app
// would use its real auth (seed 000's `auth()`); what matters is that the token route checks it.
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';

export interface ChatUser {
  name: string;
  email: string;
}

export const SESSION_COOKIE = 'chat_sid';

export class SessionStore {
  readonly #sessions = new Map<string, ChatUser>();

  signIn(res: Response, user: ChatUser): void {
    const sid = randomBytes(24).toString('base64url');
    this.#sessions.set(sid, user);
    res.setHeader('Set-Cookie', `${SESSION_COOKIE}=${sid}; HttpOnly; SameSite=Lax; Path=/`);
  }

  signOut(req: Request, res: Response): void {
    const sid = sessionIdOf(req);
    if (sid) this.#sessions.delete(sid);
    res.setHeader('Set-Cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0`);
  }

  userOf(req: Request): ChatUser | undefined {
    const sid = sessionIdOf(req);
    return sid ? this.#sessions.get(sid) : undefined;
  }
}

function sessionIdOf(req: Request): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === SESSION_COOKIE) return v.join('=');
  }
  return undefined;
}
