// The API and the broker on PostgreSQL while the database goes away and comes back: every answer
// in between says "unavailable" (503, CONNACK 3 / 0x88), never "bad credentials" or "not found";
// /readyz says so; once the server is back everything works again without restarting anything.
// And the change feed's push: a revoke still ends the session when the LISTEN connection was killed.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import type { MqttClient } from 'mqtt';
import { startPostgres, type PrivatePostgres } from '../support/postgres.js';
import { closed, connectClient, eventually, postJson, startStack, type Stack } from '../support/stack.js';

let db: PrivatePostgres;
let stack: Stack;
let orgId: string;
let secretKey: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  db = await startPostgres('outage');
  // A slow fallback poll: within these tests the feed's push (NOTIFY) is what delivers changes,
  // except where the listener is killed.
  stack = await startStack('pg-outage', { SIGNALGATE_DATABASE_URL: await db.newDatabase(), SIGNALGATE_CHANGE_POLL_MS: '1000' });
  const created = await stack.services.orgs.create('Outage');
  orgId = created.org.id;
  secretKey = created.secretKey;
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await stack?.stop();
  await db?.stop();
});

const apiUrl = () => stack.api.url;

async function mint(userId: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await postJson(`${apiUrl()}/v2/tokens`, { user_id: userId }, { Authorization: `Bearer ${secretKey}` });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const credentialsOf = (body: Record<string, any>) => ({ username: body.mqtt_credentials.username as string, password: body.mqtt_credentials.password as string });

async function connackCode(creds: { username: string; password: string }, protocolVersion: 4 | 5): Promise<number> {
  try {
    const c = await connectClient(stack.mqttUrl, { ...creds, protocolVersion, clientId: `probe-${Math.random().toString(36).slice(2)}` });
    c.end(true);
    return 0;
  } catch (err) {
    return (err as { code: number }).code;
  }
}

describe('the database goes away mid-run', () => {
  test('503 / CONNACK 3 (0x88) while it is down, never bad credentials; all back without a restart', async () => {
    const seen = await mint('seen-before');
    expect(seen.status).toBe(200);
    const never = await mint('never-connected');
    expect(never.status).toBe(200);
    // `seen` is in the broker's credential cache; `never` is not.
    expect(await connackCode(credentialsOf(seen.body), 4)).toBe(0);

    await db.down();
    try {
      const ready = await fetch(`${apiUrl()}/readyz`);
      expect(ready.status).toBe(503);
      const minted = await mint('during-outage');
      expect(minted.status).toBe(503);
      expect(minted.body.error).toBe('store_unavailable');
      expect(await connackCode(credentialsOf(never.body), 4)).toBe(3);
      expect(await connackCode(credentialsOf(never.body), 5)).toBe(0x88);
      // A cached credential is trusted only while the feed is read: within a few seconds of the
      // outage it is refused as unavailable too (the broker cannot know it was not revoked).
      await eventually(async () => (await connackCode(credentialsOf(seen.body), 4)) === 3, 8000);
    } finally {
      await db.up();
    }

    await eventually(async () => (await fetch(`${apiUrl()}/readyz`)).status === 200, 15_000);
    await eventually(async () => (await mint('after-outage')).status === 200, 15_000);
    expect(await connackCode(credentialsOf(never.body), 4)).toBe(0);
    expect(await connackCode(credentialsOf(seen.body), 5)).toBe(0);
  }, 60_000);
});

describe('the change feed when its LISTEN connection is killed', () => {
  test('a revoke made right after still ends the session (reconnected listener or fallback poll)', async () => {
    const minted = await mint('listener-killed');
    expect(minted.status).toBe(200);
    const client = await connectClient(stack.mqttUrl, { ...credentialsOf(minted.body), protocolVersion: 5, clientId: 'listener-killed' });
    clients.push(client);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      // (After the outage above the listener may still be reconnecting: wait until it listens.)
      await eventually(async () => {
        const { rowCount } = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'signalgate-listen'");
        return (rowCount ?? 0) > 0;
      }, 10_000);
    } finally {
      await admin.end();
    }
    const revoked = await fetch(`${apiUrl()}/v2/tokens/${minted.body.token_id as string}`, {
      method: 'DELETE', headers: { Authorization: `Bearer ${secretKey}` },
    });
    expect([200, 204]).toContain(revoked.status);
    await closed(client, 5000);
  }, 30_000);
});
