// Auto-refresh against the real stack: short-lived tokens are renewed before
// refresh_recommended_at through POST /v2/tokens/refresh; the session keeps its subscriptions and
// loses no QoS 1 message in either direction (in place by default, or by reconnecting).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import CloudSignal, { type TokenInfo } from '@signalgate/client';
import { Inbox, connectClient, eventually, mintLikeSeed002, newOrg, sleep, startStack, type Org, type Stack } from './support/fixtures.js';

const TTL = 3;
let stack: Stack;
let org: Org;
const clients: CloudSignal[] = [];
const raw: MqttClient[] = [];

beforeAll(async () => {
  stack = await startStack('sdk-refresh');
  org = await newOrg(stack, 'Refresh Co');
  await stack.services.orgs.update(org.orgId, { minTtlSeconds: 1, defaultTtlSeconds: TTL });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.destroy()));
  for (const r of raw) r.end(true);
  await stack.stop();
});

function sdk(opts: ConstructorParameters<typeof CloudSignal>[0] = {}): CloudSignal {
  const c = new CloudSignal({ tokenServiceUrl: stack.api.url, authRetryDelaySeconds: 0.05, ...opts });
  clients.push(c);
  return c;
}

/** A long-lived plain mqtt.js peer in the same org. */
async function peer(name: string): Promise<MqttClient> {
  const t = await mintLikeSeed002(stack, org, `${name}@example.com`, { ttl_seconds: 600 });
  const c = await connectClient(stack.mqttUrl, { username: t.username, password: t.password });
  raw.push(c);
  return c;
}

describe('auto-refresh', () => {
  test('externalToken: renewed before expiry, callbacks fire, the live session carries on and traffic both ways loses nothing', async () => {
    const minted = await mintLikeSeed002(stack, org, 'longtalker@example.com');
    const client = sdk({ clientId: 'refresh-external' });
    const events: string[] = [];
    const refreshed: TokenInfo[] = [];
    client.setTokenExpiringCallback(() => events.push('expiring'));
    client.setTokenRefreshedCallback((info) => {
      events.push('refreshed');
      refreshed.push(info);
    });
    client.setTokenErrorCallback((err) => events.push(`error:${err.message}`));
    const inbox = new Inbox();
    client.onMessage(inbox.push);
    await client.connectWithToken({ host: stack.wsUrl, organizationId: org.orgId, externalToken: minted.access_token });
    await client.subscribe('chat/refresh/in');
    const sessionOf = async () => (await stack.services.sessions.list(org.orgId)).find((x) => x.clientId === 'refresh-external');
    await eventually(async () => (await sessionOf()) !== undefined, 'session row');
    const firstConnectedAt = (await sessionOf())!.connectedAt;

    const bob = await peer('bob');
    await bob.subscribeAsync('chat/refresh/out', { qos: 1 });
    const fromClient = new Set<number>();
    bob.on('message', (_t, p) => fromClient.add((JSON.parse(p.toString()) as { n: number }).n));

    // Keep both directions busy across two refreshes and well past the first token's expiry.
    const end = Date.now() + TTL * 1000 * 2 + 500;
    let n = 0;
    while (Date.now() < end) {
      void client.transmit('chat/refresh/out', { n });
      void bob.publishAsync('chat/refresh/in', JSON.stringify({ n }), { qos: 1 });
      n++;
      await sleep(25);
    }
    await eventually(() => fromClient.size === n, `all ${n} client→bob messages (have ${fromClient.size})`);
    await inbox.waitFor('chat/refresh/in', n);
    const received = new Set(inbox.on('chat/refresh/in').map((m) => (m as { n: number }).n));
    expect(received.size).toBe(n);

    expect(events.filter((e) => e === 'refreshed').length).toBeGreaterThanOrEqual(2);
    expect(events.filter((e) => e.startsWith('error'))).toEqual([]);
    expect(events[0]).toBe('expiring');
    expect(refreshed[0]!.tokenId).toBe(minted.token_id);
    const record = await stack.services.tokens.get(org.orgId, minted.token_id);
    expect(record.refreshedAt).not.toBeNull();
    expect(record.expiresAt).toBeGreaterThan(Date.parse(minted.expires_at));
    expect(client.isConnected).toBe(true);
    // The live session carried on past the first token's expiry (the broker moved its end): no reconnect.
    expect((await sessionOf())!.connectedAt).toBe(firstConnectedAt);
    // The first password still opens the refreshed token (the official SDK's mqtt.js reconnects with it).
    expect(await stack.services.connect.checkConnect(minted.username, minted.password)).toMatchObject({ ok: true, token: { id: minted.token_id } });
  }, 30_000);

  test('reconnectOnRefresh: the session moves to the new password; QoS 1 publishes during the switch and the subscription survive', async () => {
    const minted = await mintLikeSeed002(stack, org, 'switcher@example.com');
    const client = sdk({ clientId: 'refresh-reconnect', reconnectOnRefresh: true });
    let refreshes = 0;
    client.setTokenRefreshedCallback(() => refreshes++);
    const inbox = new Inbox();
    client.onMessage(inbox.push);
    await client.connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, externalToken: minted.access_token });
    await client.subscribe('chat/switch/in');
    const sessionOf = async () => (await stack.services.sessions.list(org.orgId)).find((x) => x.clientId === 'refresh-reconnect');
    await eventually(async () => (await sessionOf()) !== undefined, 'session row');
    const firstConnectedAt = (await sessionOf())!.connectedAt;

    const bob = await peer('switch-watcher');
    await bob.subscribeAsync('chat/switch/out', { qos: 1 });
    const fromClient = new Set<number>();
    bob.on('message', (_t, p) => fromClient.add((JSON.parse(p.toString()) as { n: number }).n));
    let n = 0;
    const sends: Promise<void>[] = [];
    while (refreshes < 2) {
      sends.push(client.transmit('chat/switch/out', { n: n++ }));
      await sleep(20);
    }
    await Promise.all(sends);
    await eventually(() => fromClient.size === n, `all ${n} publishes made across two switches (have ${fromClient.size})`);
    expect((await sessionOf())!.connectedAt).toBeGreaterThan(firstConnectedAt);

    await bob.publishAsync('chat/switch/in', JSON.stringify({ after: 'switch' }), { qos: 1 });
    await inbox.waitFor('chat/switch/in');
    expect(inbox.on('chat/switch/in')).toContainEqual({ after: 'switch' });
  }, 30_000);

  test('secretKey (seed 001): renewed the same way, subscriptions kept', async () => {
    const client = sdk({ clientId: 'refresh-secret' });
    let refreshes = 0;
    client.setTokenRefreshedCallback(() => refreshes++);
    const inbox = new Inbox();
    client.onMessage(inbox.push);
    await client.connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, secretKey: org.secretKey, userEmail: 'worker-7' });
    const firstToken = client.tokenInfo!.tokenId;
    await client.subscribe('jobs/7');
    await eventually(() => refreshes >= 1, 'one refresh', 8000);
    await sleep(TTL * 1000);
    const bob = await peer('dispatcher');
    await bob.publishAsync('jobs/7', JSON.stringify({ job: 'after refresh' }), { qos: 1 });
    await inbox.waitFor('jobs/7');
    expect(inbox.on('jobs/7')).toEqual([{ job: 'after refresh' }]);
    expect(client.tokenInfo!.tokenId).toBe(firstToken);
  }, 20_000);

  test('autoRefresh: false: only the expiring callback fires; at expiry the session ends and onAuthError reports it', async () => {
    const minted = await mintLikeSeed002(stack, org, 'norefresh@example.com', { ttl_seconds: 2 });
    const client = sdk({ autoRefresh: false });
    let expiring = 0;
    const authErrors: Error[] = [];
    const statuses: string[] = [];
    client.setTokenExpiringCallback(() => expiring++);
    client.onAuthError = (err) => authErrors.push(err);
    client.onStatusChange((s) => statuses.push(s));
    await client.connectWithToken({ host: stack.mqttUrl, externalToken: minted.access_token, organizationId: org.orgId });
    await eventually(() => client.status === 'auth_failed', 'auth_failed after expiry', 10_000);
    expect(expiring).toBe(1);
    expect((await stack.services.tokens.get(org.orgId, minted.token_id)).refreshedAt).toBeNull();
    expect(authErrors.length).toBeGreaterThanOrEqual(1);
    expect(authErrors.at(-1)!.message).toMatch(/expired|revoked|refused/i);
    expect(statuses).toContain('reconnecting');
  }, 20_000);
});
