// The two HTML pages. The chat page gets its public settings as inline JSON (seed 002's
// NEXT_PUBLIC_* values): organization id, token service and broker addresses — no secrets.

export interface ChatPageConfig {
  organizationId: string;
  tokenServiceUrl: string;
  brokerUrl: string;
  userId: string;
  userEmail: string;
  roomId: string;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON inside <script> must not be able to close the tag. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

const STYLE = `
  body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; color: #111; }
  .chat { display: flex; flex-direction: column; height: 24rem; border: 1px solid #ccc; border-radius: .5rem; }
  .bar { padding: .5rem; border-bottom: 1px solid #ccc; display: flex; align-items: center; gap: .5rem; }
  .dot { flex: none; width: .5rem; height: .5rem; border-radius: 50%; background: #ef4444; }
  .dot.on { background: #22c55e; }
  .messages { flex: 1; overflow-y: auto; padding: 1rem; display: flex; flex-direction: column; gap: .5rem; }
  .msg { padding: .5rem; border-radius: .25rem; background: #f3f4f6; max-width: 80%; }
  .msg.mine { background: #dbeafe; margin-left: auto; }
  .composer { padding: .5rem; border-top: 1px solid #ccc; display: flex; gap: .5rem; }
  .composer input { flex: 1; padding: .5rem; border: 1px solid #ccc; border-radius: .25rem; }
  button { padding: .5rem 1rem; background: #3b82f6; color: #fff; border: 0; border-radius: .25rem; }
  button:disabled { opacity: .5; }`;

export function loginPage(error?: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · Live chat</title><style>${STYLE}</style></head>
<body><main><h1>Live chat</h1>
<form method="post" action="/login">
  <label>Your name <input name="name" id="name" autocomplete="username" required maxlength="32"></label>
  <button type="submit" id="sign-in">Sign in</button>
</form>${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}</main></body></html>`;
}

export function chatPage(config: ChatPageConfig): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Live chat · ${escapeHtml(config.roomId)}</title><style>${STYLE}</style></head>
<body><main>
<h1>Live chat</h1>
<p>Signed in as <strong id="me">${escapeHtml(config.userId)}</strong> · room <strong>${escapeHtml(config.roomId)}</strong></p>
<div class="chat">
  <div class="bar"><div class="dot" id="status-dot"></div><span id="status" data-state="connecting">Connecting...</span></div>
  <div class="messages" id="messages"></div>
  <div class="composer">
    <input type="text" id="input" placeholder="Type a message..." disabled>
    <button id="send" disabled>Send</button>
  </div>
</div>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
</main>
<script type="application/json" id="chat-config">${scriptJson(config)}</script>
<script type="module" src="/chat.js"></script>
</body></html>`;
}
