// A restart of both services on the same data dir keeps every issued credential valid.
import { afterAll, expect, test } from '@jest/globals';
import { connectClient, postJson, startStack, tempDataDir, type Stack } from './support/stack.js';

let stack: Stack | undefined;
afterAll(async () => stack?.stop());

test('credentials minted before a restart still connect after it', async () => {
  const dataDir = tempDataDir('restart');
  stack = await startStack('restart', {}, dataDir);
  const { org, secretKey } = await stack.services.orgs.create('Restart Co');
  const minted = [];
  for (const user of ['u1', 'u2', 'u3']) {
    const res = await postJson(`${stack.api.url}/v2/tokens`, { user_id: user }, { Authorization: `Bearer ${secretKey}` });
    expect(res.ok).toBe(true);
    minted.push((await res.json()) as { username: string; password: string });
  }
  await stack.stop();

  stack = await startStack('restart', {}, dataDir);
  for (const m of minted) {
    const c = await connectClient(stack.mqttUrl, { username: m.username, password: m.password });
    expect(c.connected).toBe(true);
    c.end(true);
  }
  // The key survives the restart too.
  const res = await postJson(`${stack.api.url}/v2/tokens`, { user_id: 'u4', organization_id: org.id }, { Authorization: `Bearer ${secretKey}` });
  expect(res.status).toBe(200);
});
