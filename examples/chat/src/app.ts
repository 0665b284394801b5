// "Your server" from seeds 000/002: signs users in, mints SignalGate tokens with the org's secret
// key (which never leaves this process), and serves the live chat page that uses the SDK bundle.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { SessionStore, type ChatUser } from './sessions.js';
import { chatPage, loginPage } from './pages.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface ChatAppOptions {
  organizationId: string;
  /** sk_… — server side only. */
  secretKey: string;
  /** Where this server reaches the token API. */
  tokenApiUrl: string;
  /** Where browsers reach the token API (the SDK calls /v2/tokens/exchange and /v2/tokens/refresh). */
  publicTokenServiceUrl?: string;
  /** Where browsers reach the broker, e.g. ws://localhost:8083/mqtt. */
  brokerWsUrl: string;
  roomId?: string;
  /** The SDK's browser bundle (built by `npm run build`). */
  sdkBundlePath?: string;
}

const USER_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/i;

export function createChatApp(o: ChatAppOptions): express.Express {
  const sessions = new SessionStore();
  const sdkBundle = o.sdkBundlePath ?? path.resolve(here, '../../../client/dist/browser/cloudsignal.js');
  const publicDir = path.resolve(here, '../public');
  const app = express();
  app.disable('x-powered-by');

  app.get('/login', (_req, res) => {
    res.type('html').send(loginPage());
  });
  app.post('/login', express.urlencoded({ extended: false, limit: '2kb' }), (req, res) => {
    const name = String((req.body as Record<string, unknown> | undefined)?.name ?? '').trim();
    if (!USER_NAME.test(name)) {
      res.status(400).type('html').send(loginPage('Pick a name of letters, digits, - or _'));
      return;
    }
    sessions.signIn(res, { name, email: `${name.toLowerCase()}@chat.example` });
    res.redirect(303, '/');
  });
  app.post('/logout', (req, res) => {
    sessions.signOut(req, res);
    res.redirect(303, '/login');
  });

  app.get('/', (req, res) => {
    const user = sessions.userOf(req);
    if (!user) {
      res.redirect(303, '/login');
      return;
    }
    res.type('html').send(chatPage({
      organizationId: o.organizationId,
      tokenServiceUrl: o.publicTokenServiceUrl ?? o.tokenApiUrl,
      brokerUrl: o.brokerWsUrl,
      userId: user.name,
      userEmail: user.email,
      roomId: o.roomId ?? 'general',
    }));
  });
  app.get('/chat.js', (_req, res) => res.type('text/javascript').sendFile(path.join(publicDir, 'chat.js')));
  app.get('/sdk/cloudsignal.js', (_req, res) => {
    if (!fs.existsSync(sdkBundle)) {
      res.status(503).type('text/plain').send('SDK bundle missing: run `npm run build` at the repository root');
      return;
    }
    res.type('text/javascript').sendFile(sdkBundle);
  });

  // Seed 002's token route, behind the session check seed 000 insists on.
  app.post('/api/mqtt-token', express.json({ limit: '2kb' }), async (req, res) => {
    const user = sessions.userOf(req);
    if (!user) {
      res.status(401).json({ error: 'Unauthorized' });
      return;
    }
    const response = await postJson(`${o.tokenApiUrl}/v2/tokens/create`, {
      organization_id: o.organizationId,
      secret_key: o.secretKey,
      // The signed-in user's address, never one from the request body.
      user_email: user.email,
    });
    if (!response.ok) {
      res.status(502).json({ error: 'Failed to generate token' });
      return;
    }
    res.json(browserToken((await response.json()) as Record<string, unknown>));
  });

  // Seed 002's refresh route: forwards token_id + current password (proof of possession).
  app.post('/api/mqtt-token/refresh', express.json({ limit: '2kb' }), async (req, res) => {
    const user: ChatUser | undefined = sessions.userOf(req);
    if (!user) {
      res.status(401).json({ error: 'Unauthorized' });
      return;
    }
    const { tokenId, password } = (req.body ?? {}) as { tokenId?: unknown; password?: unknown };
    if (typeof tokenId !== 'string' || typeof password !== 'string') {
      res.status(400).json({ error: 'tokenId and password are required' });
      return;
    }
    const response = await postJson(`${o.tokenApiUrl}/v2/tokens/refresh`, { token_id: tokenId, current_token_password: password });
    if (!response.ok) {
      res.status(response.status === 401 || response.status === 404 ? 401 : 502).json({ error: 'Token refresh failed' });
      return;
    }
    res.json(browserToken((await response.json()) as Record<string, unknown>));
  });

  return app;
}

function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

/** Seed 002's answer to the browser: the token and its times, nothing else. */
function browserToken(data: Record<string, unknown>) {
  return {
    accessToken: data.access_token,
    tokenId: data.token_id,
    expiresAt: data.expires_at,
    refreshAt: data.refresh_recommended_at,
  };
}
