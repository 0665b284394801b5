// Seed 004's RealtimeClient against the real broker, over MQTT 5 (its default) and 3.1.1: static
// credentials, onAuthFailure on CONNACK 5 / 0x87 (force disconnect, fresh credentials, wait,
// reconnect, restore subscriptions), deduplicated recoveries, the retry backoff, RemoteCredentials
// and updateEndpoint.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { RealtimeClient, RemoteCredentials, type Endpoint } from '@signalgate/client';
import { Inbox, connectClient, eventually, mintLikeSeed002, newOrg, sleep, startStack, type Org, type Stack } from './support/fixtures.js';

let stack: Stack;
let org: Org;
let brokerPort: number;
const clients: RealtimeClient[] = [];
const raw: MqttClient[] = [];
let n = 0;

beforeAll(async () => {
  stack = await startStack('sdk-realtime');
  org = await newOrg(stack, 'Realtime Co');
  await stack.services.orgs.update(org.orgId, { minTtlSeconds: 1 });
  brokerPort = stack.broker.ports.mqtt!;
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.destroy()));
  for (const r of raw) r.end(true);
  await stack.stop();
});

/** Seed 004's endpoint shape from a fresh token. */
async function freshEndpointFor(user = `rt-${n++}@example.com`, extra: Record<string, unknown> = {}): Promise<Endpoint & { tokenId: string }> {
  const t = await mintLikeSeed002(stack, org, user, extra);
  return { host: '127.0.0.1', port: brokerPort, username: t.username, password: t.password, scheme: 'mqtt', tokenId: t.token_id };
}

async function publisher(): Promise<MqttClient> {
  const t = await mintLikeSeed002(stack, org, `pub-${n++}@example.com`, { ttl_seconds: 600 });
  const c = await connectClient(stack.mqttUrl, { username: t.username, password: t.password });
  raw.push(c);
  return c;
}

describe.each([
  { protocolVersion: 5 as const, label: 'MQTT 5', refusedBadPassword: 0x86 },
  { protocolVersion: 4 as const, label: 'MQTT 3.1.1', refusedBadPassword: 4 },
])('$label', ({ protocolVersion, refusedBadPassword }) => {
  const mine: RealtimeClient[] = [];
  afterAll(() => Promise.all(mine.splice(0).map((c) => c.destroy())));

  function realtime(opts: ConstructorParameters<typeof RealtimeClient>[0]): RealtimeClient {
    const c = new RealtimeClient({ authRetryDelaySeconds: 0.05, reconnectPeriodMs: 100, protocolVersion, ...opts });
    clients.push(c);
    mine.push(c);
    return c;
  }
  /** Users and client ids of one protocol level never meet the other's (a mint for a user would revoke the other run's token). */
  const own = (name: string) => name.replace(/(@|$)/, `-v${protocolVersion}$1`);
  const freshEndpoint = (user?: string, extra?: Record<string, unknown>) => freshEndpointFor(user === undefined ? undefined : own(user), extra);

  describe('static credentials', () => {
    test('connects with {host, port, username, password, scheme}; also over ws with path /mqtt', async () => {
      const a = realtime({ endpoint: await freshEndpoint() });
      await a.connect();
      const ws = await freshEndpoint();
      const b = realtime({ endpoint: { ...ws, port: stack.broker.ports.ws!, scheme: 'ws', path: '/mqtt' } });
      await b.connect();
      const inbox = new Inbox();
      b.onMessage(inbox.push);
      await b.subscribe('rt/static');
      await a.publish('rt/static', { from: 'a' });
      await inbox.waitFor('rt/static');
      expect(inbox.on('rt/static')).toEqual([{ from: 'a' }]);
    });

    test('without onAuthFailure a refusal is final: connect() rejects with connack_4 and the code on the wire (4 or 0x86)', async () => {
      const ep = await freshEndpoint();
      const c = realtime({ endpoint: { ...ep, password: 'tkn_wrong-wrong-wrong-wrong-wrong-wrong-wrong' } });
      await expect(c.connect()).rejects.toMatchObject({ code: 'connack_4', status: refusedBadPassword });
      expect(c.status).toBe('auth_failed');
    });
  });

  describe('onAuthFailure (CONNACK 5)', () => {
    test('an expired credential is replaced: fresh credentials, reconnect, every subscription restored', async () => {
      const ep = await freshEndpoint('expiring@example.com', { ttl_seconds: 1 });
      let calls = 0;
      const statuses: string[] = [];
      const c = realtime({
        endpoint: ep,
        clientId: own('rt-expiring'),
        onAuthFailure: async () => {
          calls++;
          const { tokenId: _t, ...next } = await freshEndpoint('expiring@example.com', { ttl_seconds: 600 });
          return next;
        },
      });
      c.on('status', (s) => statuses.push(s));
      const inbox = new Inbox();
      c.onMessage(inbox.push);
      await c.connect();
      await c.subscribe('rt/a');
      await c.subscribe('rt/b/+');
      // The broker ends the session at expiry; mqtt.js reconnects with the dead password → CONNACK 5.
      await eventually(() => calls === 1 && c.status === 'connected', 'recovery after expiry', 10_000);
      expect(statuses).toEqual(expect.arrayContaining(['reconnecting', 'refreshing_credentials', 'connected']));
      expect(c.subscriptions.sort()).toEqual(['rt/a', 'rt/b/+']);
      const pub = await publisher();
      await pub.publishAsync('rt/a', '1', { qos: 1 });
      await pub.publishAsync('rt/b/x', '2', { qos: 1 });
      await inbox.waitFor('rt/a');
      await inbox.waitFor('rt/b/x');
      expect(calls).toBe(1);
    });

    test('a revoked credential recovers too; publishes made during the recovery are delivered', async () => {
      const ep = await freshEndpoint('revokee@example.com');
      const c = realtime({ endpoint: ep, onAuthFailure: async () => freshEndpoint('revokee@example.com') });
      await c.connect();
      const pub = await publisher();
      await pub.subscribeAsync('rt/during', { qos: 1 });
      const got: string[] = [];
      pub.on('message', (_t, p) => got.push(p.toString()));
      await stack.services.tokens.revoke(org.orgId, ep.tokenId);
      await eventually(() => c.status !== 'connected', 'disconnect after revoke');
      const sent = c.publish('rt/during', 'queued while recovering');
      await sent;
      await eventually(() => got.includes('queued while recovering'), 'the queued publish');
    });

    test('simultaneous recoveries are deduplicated: one onAuthFailure call', async () => {
      const ep = await freshEndpoint('dedupe@example.com');
      let calls = 0;
      const c = realtime({
        endpoint: ep,
        onAuthFailure: async () => {
          calls++;
          await sleep(300);
          return freshEndpoint('dedupe@example.com');
        },
      });
      await c.connect();
      await stack.services.tokens.revoke(org.orgId, ep.tokenId);
      await eventually(() => c.status === 'refreshing_credentials', 'recovery started by the broker refusal');
      const runs = [c.recoverAuth(), c.recoverAuth(), c.recoverAuth()];
      expect(runs[0]).toBe(runs[1]);
      await Promise.all(runs);
      expect(c.status).toBe('connected');
      expect(calls).toBe(1);
    });

    test('failed recoveries back off base·2^n up to the ceiling, then succeed', async () => {
      const ep = await freshEndpoint('flaky@example.com');
      let calls = 0;
      const delays: number[] = [];
      const c = realtime({
        endpoint: ep,
        retryBackoff: { baseSeconds: 0.01, ceilSeconds: 0.04 },
        onAuthFailure: async () => {
          calls++;
          if (calls <= 5) throw new Error('token endpoint down');
          return freshEndpoint('flaky@example.com');
        },
      });
      c.on('authRetry', ({ delayMs }) => delays.push(delayMs));
      await c.connect();
      await stack.services.tokens.revoke(org.orgId, ep.tokenId);
      await eventually(() => c.status === 'connected' && calls === 6, 'recovery after 5 failures', 10_000);
      expect(delays).toEqual([10, 20, 40, 40, 40]);
    });

    test('fresh credentials that are refused again count as a failed attempt', async () => {
      const ep = await freshEndpoint('stubborn@example.com');
      let calls = 0;
      const delays: number[] = [];
      const c = realtime({
        endpoint: ep,
        retryBackoff: { baseSeconds: 0.01, ceilSeconds: 1 },
        onAuthFailure: async () => {
          calls++;
          // The first answer is a stale credential (the same revoked one), the second a good one.
          return calls === 1 ? ep : freshEndpoint('stubborn@example.com');
        },
      });
      c.on('authRetry', ({ delayMs }) => delays.push(delayMs));
      await c.connect();
      await stack.services.tokens.revoke(org.orgId, ep.tokenId);
      await eventually(() => c.status === 'connected' && calls === 2, 'second attempt connects', 10_000);
      expect(delays).toEqual([10]);
    });

    test('onAuthFailure returning null gives up: status auth_failed, queued publishes rejected', async () => {
      const ep = await freshEndpoint('quitter@example.com');
      const c = realtime({ endpoint: ep, onAuthFailure: async () => null });
      await c.connect();
      await stack.services.tokens.revoke(org.orgId, ep.tokenId);
      await eventually(() => c.status === 'auth_failed', 'auth_failed');
      await expect(c.publish('rt/x', 'late')).rejects.toMatchObject({ code: 'auth_failed' });
      await expect(c.subscribe('rt/x')).rejects.toMatchObject({ code: 'auth_failed' });
    });

    test('the first connect recovers too when its credential is already dead', async () => {
      const ep = await freshEndpoint('late@example.com');
      await stack.services.tokens.revoke(org.orgId, ep.tokenId);
      const c = realtime({ endpoint: ep, onAuthFailure: async () => freshEndpoint('late@example.com') });
      await c.connect();
      expect(c.status).toBe('connected');
    });
  });

  describe('resubscribe after reconnect', () => {
    test('when the broker has no session for us (clean: true), every tracked subscription is sent again', async () => {
      const ep = await freshEndpoint('clean@example.com');
      const c = realtime({ endpoint: ep, clientId: own('rt-clean'), clean: true });
      const inbox = new Inbox();
      c.onMessage(inbox.push);
      const connects: boolean[] = [];
      c.on('connected', ({ sessionPresent }) => connects.push(sessionPresent));
      await c.connect();
      await c.subscribe('rt/clean/a');
      await c.subscribe('rt/clean/+/b');
      await eventually(async () => (await stack.services.sessions.list(org.orgId)).some((x) => x.clientId === own('rt-clean')), 'session row');
      await stack.services.sessions.kick(org.orgId, own('rt-clean'));
      await eventually(() => connects.length === 2 && c.status === 'connected', 'reconnected after the kick');
      expect(connects).toEqual([false, false]);
      const pub = await publisher();
      await eventually(async () => (await stack.services.sessions.list(org.orgId)).some((x) => x.clientId === own('rt-clean')), 'session row');
      // The resubscription is in flight right after CONNACK: publish until it is effective.
      for (let i = 0; i < 50 && inbox.on('rt/clean/a').length === 0; i++) {
        await pub.publishAsync('rt/clean/a', '1', { qos: 1 });
        await sleep(50);
      }
      await pub.publishAsync('rt/clean/x/b', '2', { qos: 1 });
      await inbox.waitFor('rt/clean/a');
      await inbox.waitFor('rt/clean/x/b');
    });
  });

  describe('switchEndpoint', () => {
    test('moves a live session to new credentials; refused ones go through onAuthFailure', async () => {
      const ep = await freshEndpoint('switcher@example.com');
      let calls = 0;
      const c = realtime({ endpoint: ep, clientId: own('rt-switcher'), onAuthFailure: async () => {
        calls++;
        return freshEndpoint('switcher@example.com');
      } });
      const inbox = new Inbox();
      c.onMessage(inbox.push);
      await c.connect();
      await c.subscribe('rt/switch');
      const statuses: string[] = [];
      c.on('status', (s) => statuses.push(s));
      const next = await stack.services.tokens.refresh(ep.tokenId, ep.password!);
      await c.switchEndpoint({ password: next.password });
      expect(statuses).toEqual([]); // a planned switch never shows as a drop
      await c.switchEndpoint({ password: 'tkn_refused-refused-refused-refused-refused' });
      expect(calls).toBe(1);
      expect(c.status).toBe('connected');
      const pub = await publisher();
      await pub.publishAsync('rt/switch', '"after"', { qos: 1 });
      await inbox.waitFor('rt/switch');
      expect(inbox.on('rt/switch')).toEqual(['after']);
    });
  });

  describe('RemoteCredentials and updateEndpoint', () => {
    let server: http.Server;
    let url: string;
    let served = 0;

    beforeAll(async () => {
      // "Your" credentials endpoint in seed 004's response shape.
      server = http.createServer(async (req, res) => {
        if (req.url === '/down') {
          res.statusCode = 503;
          res.end();
          return;
        }
        served++;
        const ep = await freshEndpoint('remote@example.com');
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ broker: { host: ep.host, port: ep.port }, userId: ep.username, jwt: ep.password }));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mqtt/token`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    const mapper = (response: { broker: { host: string; port: number }; userId: string; jwt: string }): Endpoint => ({
      host: response.broker.host, port: response.broker.port, username: response.userId, password: response.jwt, scheme: 'mqtt',
    });

    test('a RemoteCredentials provider supplies the first credentials and the ones after a refusal', async () => {
      const creds = new RemoteCredentials(url, mapper);
      const c = realtime({ credentials: creds });
      await c.connect();
      expect(served).toBe(1);
      const username = (await creds.get()).username!;
      const token = await stack.services.tokens.list(org.orgId, { user: own('remote@example.com'), liveOnly: true });
      for (const t of token) await stack.services.tokens.revoke(org.orgId, t.id);
      await eventually(() => served >= 3 && c.status === 'connected', 'reconnected with served credentials', 10_000);
      expect(username).toMatch(/@org_/);
    });

    test('RemoteCredentials works as onAuthFailure too, and reports HTTP failures', async () => {
      const creds = new RemoteCredentials(url, mapper);
      const ep = await freshEndpoint();
      const c = realtime({ endpoint: ep, onAuthFailure: () => creds.get() });
      await c.connect();
      const before = served;
      await stack.services.tokens.revoke(org.orgId, ep.tokenId);
      await eventually(() => served === before + 1 && c.status === 'connected', 'recovered through RemoteCredentials');
      await expect(new RemoteCredentials(url.replace('/mqtt/token', '/down'), mapper).get()).rejects.toMatchObject({ code: 'http_503', status: 503 });
    });

    test('updateEndpoint: the next reconnection uses the new credentials, without an auth failure', async () => {
      const ep = await freshEndpoint('updater@example.com');
      let authFailures = 0;
      const c = realtime({ endpoint: ep, clientId: own('rt-updater'), onAuthFailure: async () => {
        authFailures++;
        return null;
      } });
      await c.connect();
      const next = await stack.services.tokens.refresh(ep.tokenId, ep.password!);
      c.updateEndpoint({ ...ep, password: next.password });
      // A network-level drop: the broker kicks the session, mqtt.js reconnects on its own.
      await eventually(async () => (await stack.services.sessions.list(org.orgId)).some((x) => x.clientId === own('rt-updater')), 'session row');
      await stack.services.sessions.kick(org.orgId, own('rt-updater'));
      await eventually(() => c.status !== 'connected', 'kicked');
      await eventually(() => c.status === 'connected', 'reconnected with the updated password');
      expect(authFailures).toBe(0);
    });
  });
});
