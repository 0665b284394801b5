// Backends log into the broker as CloudSignal's notifications docs do: username `server@<org_id>`
// (or the org's UUID), password the org's secret key, connect–publish–disconnect per request. The
// session has the org's default rights and nothing user-shaped: no presence, no ${user_id}. Wrong,
// foreign, revoked and rotated-out keys are refused or end their sessions; guessing is bounded per
// address before argon2 runs.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { IClientOptions, MqttClient } from 'mqtt';
import { CONNECT_REFUSALS, newSecretKey, SESSION_ENDS, type Rules } from '@signalgate/shared';
import {
  connackCode, connectClient, eventually, inbox, onTopic, serverDisconnect, sleep, startTestBroker, subackCodes, whenClosed, type TestBroker,
} from './support/harness.js';

const v5 = { protocolVersion: 5 as const };
const v4 = { protocolVersion: 4 as const };

/** The notifications package's rules: a user reads their own inbox; the org's backends publish anywhere. */
const NOTIFICATION_RULES: Rules = {
  publish: ['#', '$notifications/#', '$spaces/#'],
  subscribe: ['chat/#', '$notifications/${user_id}/inbox/#', '$spaces/#'],
  presence: true, history: false,
};

let tb: TestBroker;
const opened: MqttClient[] = [];

interface TestOrg { id: string; uuid: string; secretKey: string; keyId: string }

async function newOrg(rules?: Rules): Promise<TestOrg> {
  const { org, secretKey, key } = await tb.services.orgs.create(`server-login ${Math.random()}`);
  if (rules) await tb.services.rules.setDefault(org.id, rules);
  return { id: org.id, uuid: org.uuid, secretKey, keyId: key.id };
}

async function backend(orgRef: string, secretKey: string, opts: IClientOptions = {}, url = tb.urls.mqtt): Promise<MqttClient> {
  const c = await connectClient(url, { username: `server@${orgRef}`, password: secretKey, clientId: `notify-api-${Date.now()}-${Math.random()}`, ...opts });
  opened.push(c);
  return c;
}

/** The PUBACK reason code an MQTT 5 publish gets (0 = accepted). */
async function ackCode(c: MqttClient, topic: string): Promise<number> {
  try {
    const packet = await c.publishAsync(topic, 'x', { qos: 1 });
    return (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}

/** Retries an asynchronous check until it holds (an effect the broker applies within a poll). */
async function eventuallyTrue(probe: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(50);
  }
}

beforeAll(async () => {
  // A budget no test here reaches by accident; the brute-force test runs its own broker.
  tb = await startTestBroker('server-login', { SIGNALGATE_AUTH_FAILURES_PER_IP: '1000' });
});
afterAll(async () => {
  for (const c of opened) c.end(true);
  await tb?.stop();
});

describe('a backend logs in with the org secret key', () => {
  test.each([['3.1.1', v4], ['5', v5]] as const)('server@<org_id> over MQTT %s publishes to a topic a token user receives', async (_level, version) => {
    const org = await newOrg();
    const user = await tb.connect(tb.urls.ws, await tb.mint(org.id, 'user-1'));
    await user.subscribeAsync('chat/user-1', { qos: 1 });
    const box = inbox(user);
    const api = await backend(org.id, org.secretKey, version);
    await api.publishAsync('chat/user-1', 'from the backend', { qos: 1 });
    await box.waitFor(onTopic('chat/user-1', 'from the backend'));
  });

  test("server@<the org's UUID> works as the short id does", async () => {
    const org = await newOrg();
    const user = await tb.connect(tb.urls.mqtt, await tb.mint(org.id, 'uuid-user'));
    await user.subscribeAsync('chat/#');
    const box = inbox(user);
    const api = await backend(org.uuid.toUpperCase(), org.secretKey, v5, tb.urls.ws);
    await api.publishAsync('chat/by-uuid', 'hi');
    await box.waitFor(onTopic('chat/by-uuid', 'hi'));
  });

  test('the notifications flow: connect, publish to $notifications/user-123/inbox/orders, disconnect; user-123 receives it, user-456 cannot subscribe', async () => {
    const org = await newOrg(NOTIFICATION_RULES);
    const user123 = await tb.connect(tb.urls.ws, await tb.mint(org.id, 'user-123'), v5);
    const user456 = await tb.connect(tb.urls.mqtt, await tb.mint(org.id, 'user-456'));
    expect(await subackCodes(user123, [['$notifications/user-123/inbox/#', 1]])).toEqual([1]);
    expect(await subackCodes(user456, ['$notifications/user-123/inbox/#'])).toEqual([0x80]);
    const box = inbox(user123);
    const api = await backend(org.id, org.secretKey, { ...v5, clientId: `notify-api-${Date.now()}` });
    await api.publishAsync('$notifications/user-123/inbox/orders', JSON.stringify({ order: 42 }), { qos: 1 });
    await api.endAsync();
    expect((await box.waitFor(onTopic('$notifications/user-123/inbox/orders'))).payload).toBe('{"order":42}');
  });

  test("a new organisation's default rule set lets its backend publish on $notifications/# out of the box", async () => {
    const org = await newOrg();
    const user = await tb.connect(tb.urls.mqtt, await tb.mint(org.id, 'fresh-user'));
    await user.subscribeAsync('$notifications/fresh-user/inbox/#');
    const box = inbox(user);
    const api = await backend(org.id, org.secretKey, v5);
    expect(await ackCode(api, '$notifications/fresh-user/inbox/welcome')).toBe(0);
    await box.waitFor(onTopic('$notifications/fresh-user/inbox/welcome'));
  });

  test('rules with ${user_id} grant a backend nothing (it is no user); the rest of the default rules apply', async () => {
    const org = await newOrg({ publish: ['$notifications/${user_id}/inbox/#', 'ok/#'], subscribe: ['ok/#'], presence: false, history: false });
    const api = await backend(org.id, org.secretKey, v5);
    expect(await ackCode(api, '$notifications/server/inbox/x')).toBe(0x87);
    expect(await ackCode(api, 'other/x')).toBe(0x87);
    expect(await ackCode(api, 'ok/x')).toBe(0);
  });

  test('a rule change re-reads the default rights and leaves the backend connected', async () => {
    const org = await newOrg({ publish: ['a/#', 'b/#'], subscribe: [], presence: false, history: false });
    const api = await backend(org.id, org.secretKey, v5);
    expect(await ackCode(api, 'b/x')).toBe(0);
    await tb.services.rules.setDefault(org.id, { publish: ['a/#'], subscribe: [], presence: false, history: false });
    const ended = serverDisconnect(api, 2000).then((p) => p.reasonCode, () => null);
    await eventuallyTrue(async () => (await ackCode(api, 'b/x')) === 0x87, 2000);
    expect(await ended).toBeNull();
    expect(api.connected).toBe(true);
    expect(await ackCode(api, 'a/x')).toBe(0);
  });
});

describe('refused logins', () => {
  const code = (level: 4 | 5, reason: keyof typeof CONNECT_REFUSALS) => (level === 5 ? CONNECT_REFUSALS[reason].v5 : CONNECT_REFUSALS[reason].v3);

  test.each([4, 5] as const)('at level %i: wrong key, another org’s key, a token password, a token username with the key, an unknown org, a revoked and a rotated-out key', async (level) => {
    const org = await newOrg();
    const other = await newOrg();
    const t = await tb.mint(org.id, `tok-${level}`);
    const opts = { protocolVersion: level };
    const bad = code(level, 'bad_credentials');
    expect(bad).toBe(level === 5 ? 0x86 : 4);
    expect(await connackCode(tb.urls.mqtt, `server@${org.id}`, newSecretKey(), opts)).toBe(bad);
    // Same public prefix, different secret: argon2 runs and says no.
    expect(await connackCode(tb.urls.mqtt, `server@${org.id}`, `${org.secretKey.slice(0, 11)}${newSecretKey().slice(11)}`, opts)).toBe(bad);
    expect(await connackCode(tb.urls.mqtt, `server@${org.id}`, other.secretKey, opts)).toBe(bad);
    expect(await connackCode(tb.urls.mqtt, `server@${org.id}`, t.password, opts)).toBe(bad);
    expect(await connackCode(tb.urls.mqtt, t.username, org.secretKey, opts)).toBe(bad);
    expect(await connackCode(tb.urls.mqtt, 'server@org_000000000000', org.secretKey, opts)).toBe(bad);
    expect(await connackCode(tb.urls.mqtt, 'server@not-an-org', org.secretKey, opts)).toBe(code(level, 'malformed_username'));

    const revoked = await tb.services.keys.create(org.id, 'to revoke');
    expect(await connackCode(tb.urls.mqtt, `server@${org.id}`, revoked.secretKey, opts)).toBe(0);
    await tb.services.keys.revoke(org.id, revoked.key.id);
    expect(await connackCode(tb.urls.mqtt, `server@${org.id}`, revoked.secretKey, opts)).toBe(bad);

    const rotated = await tb.services.keys.create(org.id, 'to rotate');
    const successor = await tb.services.keys.rotate(org.id, rotated.key.id, 0);
    expect(await connackCode(tb.urls.mqtt, `server@${org.id}`, rotated.secretKey, opts)).toBe(bad);
    expect(await connackCode(tb.urls.mqtt, `server@${org.id}`, successor.secretKey, opts)).toBe(0);
  });

  test("a backend session counts against the organisation's max_connections like any session", async () => {
    const org = await newOrg();
    await tb.services.orgs.update(org.id, { limits: { maxConnections: 1 } });
    const api = await backend(org.id, org.secretKey);
    const t = await tb.mint(org.id, 'crowded-out');
    expect(await connackCode(tb.urls.mqtt, t.username, t.password, v5)).toBe(CONNECT_REFUSALS.org_connection_limit.v5);
    await api.endAsync();
    await eventuallyTrue(async () => (await connackCode(tb.urls.mqtt, `server@${org.id}`, org.secretKey, v5)) === 0);
  });
});

describe('a key that stops working ends its sessions', () => {
  test('revoking the key ends an MQTT 5 session with 0x87 within ~1.5 s and closes a 3.1.1 one', async () => {
    const org = await newOrg();
    const five = await backend(org.id, org.secretKey, v5);
    const four = await backend(org.id, org.secretKey, v4);
    const gone = serverDisconnect(five, 1500);
    const closed = whenClosed(four, 1500);
    await tb.services.keys.revoke(org.id, org.keyId);
    expect((await gone).reasonCode).toBe(SESSION_ENDS.revoked);
    expect(SESSION_ENDS.revoked).toBe(0x87);
    await closed;
  });

  test('a key rotated with a 1 s overlap keeps its session until the overlap ends, then it ends as expired; the successor connects', async () => {
    const org = await newOrg();
    const api = await backend(org.id, org.secretKey, v5);
    const started = Date.now();
    const gone = serverDisconnect(api, 3000);
    const successor = await tb.services.keys.rotate(org.id, org.keyId, 1);
    await sleep(500);
    expect(api.connected).toBe(true);
    expect((await gone).reasonCode).toBe(SESSION_ENDS.expired);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(2000);
    expect(await connackCode(tb.urls.mqtt, `server@${org.id}`, successor.secretKey, v5)).toBe(0);
  });
});

describe('a backend is not a user', () => {
  test('no presence event for a backend session; the API lists its session as key:<key_id>, not as someone online', async () => {
    const org = await newOrg(NOTIFICATION_RULES);
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(org.id, 'presence-watcher'));
    await watcher.subscribeAsync('$presence/+');
    const box = inbox(watcher);
    await box.waitFor(onTopic('$presence/presence-watcher'));
    const api = await backend(org.id, org.secretKey, { ...v5, clientId: 'backend-presence' });
    const rows = await eventually(async () => {
      const list = (await tb.services.sessions.list(org.id)).filter((s) => s.clientId === 'backend-presence');
      return list.length > 0 && list;
    });
    expect(rows[0]).toMatchObject({ userRef: 'server', tokenId: `key:${org.keyId}` });
    expect((await tb.services.sessions.presence(org.id)).map((p) => p.user.userId)).toEqual(['presence-watcher']);
    await api.endAsync();
    // A user arriving after the backend left: its presence is the sentinel that everything before it was seen.
    await tb.connect(tb.urls.mqtt, await tb.mint(org.id, 'after-backend'));
    await box.waitFor(onTopic('$presence/after-backend'));
    expect(box.messages.map((m) => m.topic)).toEqual(['$presence/presence-watcher', '$presence/after-backend']);
  });
});

describe('guessing keys', () => {
  test('past SIGNALGATE_AUTH_FAILURES_PER_IP wrong attempts, server@ logins are refused before any key is checked (3 / 0x9F)', async () => {
    const guarded = await startTestBroker('server-login-budget', { SIGNALGATE_AUTH_FAILURES_PER_IP: '3' });
    try {
      const { org, secretKey } = await guarded.services.orgs.create('guarded');
      const argon2Runs = () => guarded.services.slowChecks.started;
      const guess = () => `${secretKey.slice(0, 11)}${newSecretKey().slice(11)}`; // the real prefix: argon2 runs
      for (let i = 0; i < 3; i++) expect(await connackCode(guarded.urls.mqtt, `server@${org.id}`, guess(), v4)).toBe(4);
      expect(argon2Runs()).toBe(3);
      expect(await connackCode(guarded.urls.mqtt, `server@${org.id}`, guess(), v4)).toBe(CONNECT_REFUSALS.auth_failure_budget.v3);
      // A key not verified yet waits out the window too (no argon2 runs); a token user of the same
      // address is not affected.
      expect(await connackCode(guarded.urls.mqtt, `server@${org.id}`, secretKey, v5)).toBe(CONNECT_REFUSALS.auth_failure_budget.v5);
      expect(argon2Runs()).toBe(3);
      expect(CONNECT_REFUSALS.auth_failure_budget).toEqual({ v3: 3, v5: 0x9f });
      const t = await guarded.mint(org.id, 'token-user');
      expect(await connackCode(guarded.urls.mqtt, t.username, t.password, v5)).toBe(0);
    } finally {
      await guarded.stop();
    }
  });

  test('concurrent wrong keys from one address run argon2 no more often than the budget allows', async () => {
    const guarded = await startTestBroker('server-login-burst', { SIGNALGATE_AUTH_FAILURES_PER_IP: '3' });
    try {
      const { org, secretKey } = await guarded.services.orgs.create('burst');
      const guess = () => `${secretKey.slice(0, 11)}${newSecretKey().slice(11)}`;
      const codes = await Promise.all(Array.from({ length: 30 }, () => connackCode(guarded.urls.mqtt, `server@${org.id}`, guess(), v4)));
      expect(guarded.services.slowChecks.started).toBeLessThanOrEqual(3);
      expect(codes.filter((c) => c === 4).length).toBeLessThanOrEqual(3);
      expect(codes.filter((c) => c === CONNECT_REFUSALS.auth_failure_budget.v3).length).toBeGreaterThanOrEqual(27);
    } finally {
      await guarded.stop();
    }
  });

  test('a correct key gives back the failure counted for it in advance: good logins never use up the budget', async () => {
    const guarded = await startTestBroker('server-login-refund', { SIGNALGATE_AUTH_FAILURES_PER_IP: '2' });
    try {
      const { org, secretKey } = await guarded.services.orgs.create('refund');
      for (let i = 0; i < 5; i++) expect(await connackCode(guarded.urls.mqtt, `server@${org.id}`, secretKey, v4)).toBe(0);
    } finally {
      await guarded.stop();
    }
  });
});
