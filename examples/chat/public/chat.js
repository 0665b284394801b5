// Seed 002's LiveChat component and useMqtt hook as plain browser JavaScript. The only differences
// from the seed: the import path (the SDK bundle this server serves) and the addresses passed in
// from the page's public config (tokenServiceUrl, host), which the seed leaves to defaults.
import CloudSignal from '/sdk/cloudsignal.js';

const config = JSON.parse(document.getElementById('chat-config').textContent);
const { userId, userEmail, roomId } = config;
const topic = `chat/${roomId}/messages`;

const statusDot = document.getElementById('status-dot');
const statusText = document.getElementById('status');
const list = document.getElementById('messages');
const input = document.getElementById('input');
const send = document.getElementById('send');

let client = null;

function setStatus(state, text) {
  const connected = state === 'connected';
  statusDot.classList.toggle('on', connected);
  statusText.dataset.state = state;
  statusText.textContent = text;
  input.disabled = !connected;
  send.disabled = !connected;
}

function addMessage(msg) {
  if (!msg || typeof msg !== 'object') return;
  const div = document.createElement('div');
  div.className = `msg${msg.user === userId ? ' mine' : ''}`;
  const who = document.createElement('span');
  who.style.fontWeight = 'bold';
  who.textContent = `${msg.user}: `;
  const text = document.createElement('span');
  text.textContent = msg.text;
  div.append(who, text);
  list.append(div);
  list.scrollTop = list.scrollHeight;
}

const STATUS_TEXT = {
  connecting: 'Connecting...',
  connected: 'Connected',
  reconnecting: 'Reconnecting...',
  refreshing_credentials: 'Reconnecting...',
};

async function connect() {
  try {
    const res = await fetch('/api/mqtt-token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ userEmail }),
    });
    if (!res.ok) throw new Error('Failed to get MQTT token');
    const { accessToken } = await res.json();

    const c = new CloudSignal({
      preset: 'desktop',
      clientId: `web-${userId}-${Date.now()}`,
      tokenServiceUrl: config.tokenServiceUrl,
    });
    c.onMessage((t, message) => {
      if (t === topic) addMessage(message);
    });
    c.onStatusChange((s) => {
      if (s in STATUS_TEXT) setStatus(s, STATUS_TEXT[s]);
      else if (s === 'closed') setStatus('disconnected', 'Disconnected');
    });
    c.onAuthError = (err) => setStatus('disconnected', `Disconnected: ${err.message}`);

    await c.connectWithToken({
      host: config.brokerUrl,
      organizationId: config.organizationId,
      externalToken: accessToken,
    });
    client = c;
    setStatus('connected', 'Connected');
    await c.subscribe(topic);
  } catch (err) {
    setStatus('disconnected', err instanceof Error ? err.message : 'Connection failed');
  }
}

function sendMessage() {
  const text = input.value;
  if (!text.trim() || !client) return;
  client.transmit(topic, { user: userId, text, timestamp: Date.now() });
  input.value = '';
}

send.addEventListener('click', sendMessage);
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') sendMessage();
});
window.addEventListener('pagehide', () => client?.destroy());

connect();
