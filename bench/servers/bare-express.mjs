// The HTTP ceiling for the mint benchmark: Express 5 with express.json(), answering the mint
// route's POST with a token-sized JSON body and doing nothing else. Prints {"port": N}.
import crypto from 'node:crypto';
import express from 'express';

const app = express();
app.use(express.json());
app.post('/v2/tokens', (req, res) => {
  const password = `tkn_${crypto.randomBytes(32).toString('base64url')}`;
  const username = `${req.body.user_id}@${req.body.organization_id}`;
  res.json({ access_token: password, token_type: 'Bearer', expires_in: 3600, mqtt_credentials: { username, password }, username, password,
    token: password, token_id: crypto.randomUUID(), user_id: req.body.user_id, provider: 'cloudsignal', expires_at: new Date(Date.now() + 3_600_000).toISOString() });
});
const server = app.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => process.exit(0));
