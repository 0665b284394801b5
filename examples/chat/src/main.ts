// Runs the example: `npm run build && node examples/chat/dist/main.js` with the org id and secret
// key `signalgate start` printed. Like seed 002's .env.local, the key stays in this process.
import { createChatApp } from './app.js';

const env = process.env;
const organizationId = env.CLOUDSIGNAL_ORG_ID;
const secretKey = env.CLOUDSIGNAL_SECRET_KEY;
if (!organizationId || !secretKey) {
  console.error('Set CLOUDSIGNAL_ORG_ID and CLOUDSIGNAL_SECRET_KEY (printed by `npm start` on first run).');
  process.exit(2);
}
const host = env.CHAT_PUBLIC_HOST ?? 'localhost';
const port = Number(env.CHAT_PORT ?? 3000);
const app = createChatApp({
  organizationId,
  secretKey,
  tokenApiUrl: env.SIGNALGATE_API_URL ?? 'http://127.0.0.1:8080',
  publicTokenServiceUrl: env.CHAT_PUBLIC_API_URL ?? `http://${host}:8080`,
  brokerWsUrl: env.CHAT_PUBLIC_BROKER_URL ?? `ws://${host}:8083/mqtt`,
});
app.listen(port, '127.0.0.1', () => console.log(`chat example on http://${host}:${port}/ (sign in with any name)`));
