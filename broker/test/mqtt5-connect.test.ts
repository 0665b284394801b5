// MQTT 5 beside 3.1.1: who gets in over which transport, the code of every CONNECT refusal (one row
// per entry of CONNECT_REFUSALS, at both protocol levels), the limits a CONNACK announces, and the
// DISCONNECT an MQTT 5 client gets when SignalGate ends its session.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import mqttPacket from 'mqtt-packet';
import { CONNECT_REFUSALS, newSecretKey, SESSION_ENDS, type ConnectRefusal } from '@signalgate/shared';
import {
  connackCode, connectWithConnack, eventually, inbox, onTopic, serverDisconnect, sleep, startTestBroker, whenClosed, type TestBroker,
} from './support/harness.js';
import { rawExchange } from './support/raw.js';

let tb: TestBroker;
let orgId: string;
let shortOrg: string;

beforeAll(async () => {
  tb = await startTestBroker('mqtt5-connect', {
    SIGNALGATE_MAX_PACKET_BYTES: '65536', SIGNALGATE_RECEIVE_MAXIMUM: '20', SIGNALGATE_TOPIC_ALIAS_MAXIMUM: '5', SIGNALGATE_MAX_SESSION_EXPIRY: '600',
  }, { tls: true });
  orgId = await tb.newOrg();
  shortOrg = await tb.newOrg({ minTtlSeconds: 1 });
});
afterAll(async () => tb?.stop());

const v5 = { protocolVersion: 5 as const };

const rawBytes = (bytes: Buffer) => rawExchange(tb.broker.ports.mqtt!, [bytes]);

/** A CONNECT of any protocol level (mqtt-packet only builds 3, 4 and 5: the level byte is patched). */
function connectAtLevel(level: number): Buffer {
  const bytes = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'lvl', keepalive: 30 });
  bytes[8] = level; // fixed header (2) + protocol name (2 + 4): the level byte
  return bytes;
}

describe('MQTT 5 on every listener', () => {
  test.each(['mqtt', 'ws', 'mqtts', 'wss'] as const)('two MQTT 5 users talk over %s', async (transport) => {
    const url = tb.urls[transport]!;
    const alice = await tb.connect(url, await tb.mint(orgId, `v5-alice-${transport}`), v5);
    const bob = await tb.connect(url, await tb.mint(orgId, `v5-bob-${transport}`), v5);
    const box = inbox(bob);
    await bob.subscribeAsync('chat/v5', { qos: 1 });
    await alice.publishAsync('chat/v5', 'hello over 5', { qos: 1 });
    await box.waitFor(onTopic('chat/v5', 'hello over 5'));
  });

  test('a 3.1.1 client and an MQTT 5 client of one org talk to each other', async () => {
    const old = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'mixed-old'));
    const young = await tb.connect(tb.urls.ws, await tb.mint(orgId, 'mixed-new'), v5);
    const oldBox = inbox(old);
    const youngBox = inbox(young);
    await old.subscribeAsync('mixed/#', { qos: 1 });
    await young.subscribeAsync('mixed/#', { qos: 1 });
    await young.publishAsync('mixed/from-5', 'a', { qos: 1, properties: { userProperties: { k: 'v' } } });
    await old.publishAsync('mixed/from-4', 'b', { qos: 1 });
    await oldBox.waitFor(onTopic('mixed/from-5', 'a'));
    await youngBox.waitFor(onTopic('mixed/from-4', 'b'));
  });

  test("the official SDK's desktop connect: v5, clean false, a cs_ id, keepalive 60, ws://host:port/", async () => {
    const url = tb.urls.ws.replace(/\/mqtt$/, '/');
    const c = await tb.connect(url, await tb.mint(orgId, 'sdk-desktop'), { protocolVersion: 5, clean: false, clientId: 'cs_a1b2c3d4', keepalive: 60, reconnectPeriod: 5000 });
    const row = await eventually(async () => (await tb.services.store.sessions.list(orgId)).find((s) => s.clientId === 'cs_a1b2c3d4'));
    expect(row.protocol).toBe('ws');
    expect(c.connected).toBe(true);
  });

  test("the official SDK's desktop CONNECT, byte for byte, over WebSocket on path /", async () => {
    // The SDK hands these options to mqtt.js (CloudSignalClient.connect with DEFAULT_CONFIG and the
    // desktop preset); the bytes mqtt.js makes of them are captured, checked, and replayed raw.
    const t = await tb.mint(orgId, 'sdk-bytes');
    const sdkOptions = { clientId: 'cs_k3x9q2mz', keepalive: 60, protocolId: 'MQTT' as const, protocolVersion: 5 as const, clean: false, username: t.username, password: t.password, connectTimeout: 30000, reconnectPeriod: 0 };
    const capture = net.createServer();
    await new Promise<void>((r) => capture.listen(0, '127.0.0.1', r));
    const bytes = await new Promise<Buffer>((resolve) => {
      capture.once('connection', (socket) => socket.once('data', (d) => { resolve(d); socket.destroy(); }));
      const c = mqtt.connect(`mqtt://127.0.0.1:${(capture.address() as net.AddressInfo).port}`, sdkOptions);
      c.on('error', () => {});
      setTimeout(() => c.end(true), 200);
    });
    capture.close();
    const parsed = await new Promise<mqttPacket.IConnectPacket>((resolve) => {
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.once('packet', (p) => resolve(p as mqttPacket.IConnectPacket));
      parser.parse(bytes);
    });
    expect(parsed).toMatchObject({ protocolVersion: 5, clean: false, keepalive: 60, clientId: 'cs_k3x9q2mz', username: t.username });
    const flagsAt = 1 + (bytes[1]! & 0x80 ? 2 : 1) + 6 + 1; // fixed header, protocol name, level
    expect(bytes[flagsAt]).toBe(0xc0); // connect flags: user name, password; clean start 0, no will

    const ws = new WebSocket(tb.urls.ws.replace(/\/mqtt$/, '/'), 'mqtt');
    const connack = await new Promise<{ reasonCode?: number; sessionPresent: boolean }>((resolve, reject) => {
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.once('packet', (p) => resolve(p as never));
      ws.on('message', (d: Buffer) => parser.parse(d));
      ws.on('error', reject);
      ws.on('open', () => ws.send(bytes));
    });
    ws.close();
    expect(connack).toMatchObject({ reasonCode: 0, sessionPresent: false });
  });

  test("the official SDK's server preset over mqtts:// (v5, clean false, keepalive 30)", async () => {
    const c = await tb.connect(tb.urls.mqtts!, await tb.mint(orgId, 'sdk-server'), { protocolVersion: 5, clean: false, clientId: 'cs_srv00001', keepalive: 30 });
    expect(c.connected).toBe(true);
  });

  test('the CONNACK announces the broker limits and shortens a longer session expiry', async () => {
    const t = await tb.mint(orgId, 'limits');
    const { client, connack } = await connectWithConnack(tb.urls.mqtt, {
      username: t.username, password: t.password, ...v5, clean: false, clientId: 'limits-1', properties: { sessionExpiryInterval: 4_000_000 },
    });
    expect(connack.properties).toMatchObject({ maximumPacketSize: 65536, receiveMaximum: 20, topicAliasMaximum: 5, sessionExpiryInterval: 600 });
    client.end(true);
  });

  test('an MQTT 5 client without a client id is assigned one, without the internal prefix', async () => {
    const t = await tb.mint(orgId, 'no-id');
    const { client, connack } = await connectWithConnack(tb.urls.mqtt, { username: t.username, password: t.password, ...v5, clientId: '' });
    const assigned = connack.properties?.assignedClientIdentifier;
    expect(assigned).toMatch(/^aedes_/);
    expect(assigned).not.toContain(orgId);
    client.end(true);
  });
});

describe('CONNECT refusals, one per CONNECT_REFUSALS row, at 3.1.1 and 5', () => {
  // Each row provokes its refusal from outside and returns the code the client got.
  const provoke: Partial<Record<ConnectRefusal, (level: 4 | 5) => Promise<number>>> = {
    malformed_username: async (level) => connackCode(tb.urls.mqtt, 'no-at-sign', (await tb.mint(orgId, `m-${level}`)).password, { protocolVersion: level }),
    bad_credentials: async (level) => {
      const t = await tb.mint(orgId, `bad-${level}`);
      return connackCode(tb.urls.mqtt, t.username, `${t.password.slice(0, -2)}xx`, { protocolVersion: level });
    },
    expired: async (level) => {
      const t = await tb.mint(shortOrg, `exp-${level}`, { ttlSeconds: 1 });
      await sleep(1100);
      return connackCode(tb.urls.mqtt, t.username, t.password, { protocolVersion: level });
    },
    revoked: async (level) => {
      const t = await tb.mint(orgId, `rev-${level}`);
      await tb.services.tokens.revoke(orgId, t.tokenId);
      return connackCode(tb.urls.mqtt, t.username, t.password, { protocolVersion: level });
    },
    client_id_too_long: async (level) => {
      const t = await tb.mint(orgId, `long-${level}`);
      return connackCode(tb.urls.mqtt, t.username, t.password, { protocolVersion: level, clientId: 'x'.repeat(257) });
    },
    client_id_invalid: async (level) => {
      // Ill-formed UTF-8 in the client id: mqtt-packet would decode it (and any other such bytes) to U+FFFD.
      const t = await tb.mint(orgId, `invalid-id-${level}`);
      const bytes = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: level, clean: true, clientId: 'id-XX', keepalive: 30, username: t.username, password: Buffer.from(t.password) });
      const at = bytes.indexOf(Buffer.from('id-XX'));
      bytes[at + 3] = 0xff;
      bytes[at + 4] = 0xfe;
      const reply = mqttPacket.parser({ protocolVersion: level });
      const got = new Promise<number>((resolve) => reply.once('packet', (p) => resolve((p as { reasonCode?: number; returnCode?: number }).reasonCode ?? (p as { returnCode: number }).returnCode)));
      reply.parse(await rawBytes(bytes));
      return got;
    },
    client_id_taken: async (level) => {
      const owner = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, `owner-${level}`), { clientId: `owned-${level}`, protocolVersion: level });
      const other = await tb.mint(orgId, `other-${level}`);
      const code = await connackCode(tb.urls.mqtt, other.username, other.password, { protocolVersion: level, clientId: `owned-${level}` });
      owner.end(true);
      return code;
    },
    org_connection_limit: async (level) => {
      const org = await tb.newOrg({ limits: { maxConnections: 1 } });
      await tb.connect(tb.urls.mqtt, await tb.mint(org, 'first'));
      const t = await tb.mint(org, 'second');
      return connackCode(tb.urls.mqtt, t.username, t.password, { protocolVersion: level });
    },
    org_connect_rate: async (level) => {
      const org = await tb.newOrg({ limits: { maxConnectsPerSecond: 1 } });
      const t = await tb.mint(org, 'rapid');
      expect(await connackCode(tb.urls.mqtt, t.username, t.password, { protocolVersion: level })).toBe(0);
      return connackCode(tb.urls.mqtt, t.username, t.password, { protocolVersion: level });
    },
    auth_failure_budget: async (level) => {
      // server@ logins from this address: the budget's wrong keys, then one more (the first level
      // spends it; the second finds it spent).
      const { org } = await tb.services.orgs.create(`budget-${level}`);
      for (let i = 0; i < tb.config.authFailuresPerIp; i++) {
        const got = await connackCode(tb.urls.mqtt, `server@${org.id}`, newSecretKey(), { protocolVersion: level });
        if (got !== (level === 5 ? 0x86 : 4)) return got;
      }
      return connackCode(tb.urls.mqtt, `server@${org.id}`, newSecretKey(), { protocolVersion: level });
    },
    server_busy: async (level) => {
      // One argon2 at a time, none waiting: concurrent server@ logins with keys that share a real
      // key's public prefix (so each is checked with argon2) find the gate full.
      const busy = await startTestBroker(`busy-${level}`, { SIGNALGATE_ARGON2_CONCURRENCY: '1', SIGNALGATE_ARGON2_QUEUE: '0' });
      try {
        const { org, secretKey } = await busy.services.orgs.create(`busy-${level}`);
        const wrong = (i: number) => `${secretKey.slice(0, -6)}wrong${i}`;
        const codes = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => connackCode(busy.urls.mqtt, `server@${org.id}`, wrong(i), { protocolVersion: level })));
        const busyCode = level === 5 ? CONNECT_REFUSALS.server_busy.v5 : CONNECT_REFUSALS.server_busy.v3;
        return codes.find((c) => c === busyCode) ?? codes[0]!;
      } finally {
        await busy.stop();
      }
    },
    unsupported_protocol_version: async (level) => {
      // A client newer than 5 is answered in 5's format with 0x84; one older than 3 in 3.1.1's with 1.
      const reply = mqttPacket.parser({ protocolVersion: level === 5 ? 5 : 4 });
      const got = new Promise<number>((resolve) => reply.once('packet', (p) => resolve((p as { reasonCode?: number; returnCode?: number }).reasonCode ?? (p as { returnCode: number }).returnCode)));
      const received = await rawBytes(connectAtLevel(level === 5 ? 6 : 2));
      reply.parse(received);
      return got;
    },
  };
  // Refusals no outside client can cause: a socket closed during the check, a store that cannot
  // answer, a store failure (the first two are provoked from inside in connect.test.ts).
  const notProvokable: ConnectRefusal[] = ['connection_closed', 'store_unavailable', 'internal_error'];

  test('every refusal of the table is provoked here or listed as not provokable', () => {
    expect([...Object.keys(provoke), ...notProvokable].sort()).toEqual(Object.keys(CONNECT_REFUSALS).sort());
  });

  test.each(Object.keys(provoke).flatMap((r) => [[r, 4], [r, 5]] as [ConnectRefusal, 4 | 5][]))('%s at protocol level %i', async (reason, level) => {
    const codes = CONNECT_REFUSALS[reason];
    expect(await provoke[reason]!(level)).toBe(level === 5 ? codes.v5 : codes.v3);
  });

  test('the official SDK recognises MQTT 5 auth refusals by their text', async () => {
    const t = await tb.mint(orgId, 'sdk-text');
    await tb.services.tokens.revoke(orgId, t.tokenId);
    await expect(connectWithConnack(tb.urls.mqtt, { username: t.username, password: t.password, ...v5 })).rejects.toThrow('Not authorized');
    await expect(connectWithConnack(tb.urls.mqtt, { username: t.username, password: 'tkn_wrong', ...v5 })).rejects.toThrow('Bad User Name or Password');
  });

  test('an empty client id with clean session 0 is refused with CONNACK 2 [MQTT-3.1.3-8]', async () => {
    // (mqtt.js and mqtt-packet will not build this CONNECT: the clean-session bit is cleared by hand.)
    const t = await tb.mint(orgId, 'empty-id');
    const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: '', keepalive: 30, username: t.username, password: Buffer.from(t.password) });
    const flags = 2 + 6 + 1; // fixed header (remaining length < 128), protocol name, level
    connect[flags] = connect[flags]! & ~0x02;
    expect([...(await rawBytes(connect))]).toEqual([0x20, 0x02, 0x00, 0x02]);
  });
});

describe('SignalGate ends a session: MQTT 5 gets a DISCONNECT with the reason', () => {
  test('credential expiry: 0xA0 (maximum connect time)', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(shortOrg, 'v5-expiring', { ttlSeconds: 1 }), v5);
    expect((await serverDisconnect(c, 2500)).reasonCode).toBe(SESSION_ENDS.expired);
    expect(SESSION_ENDS.expired).toBe(0xa0);
  });

  test('revoke: 0x87 (not authorized)', async () => {
    const t = await tb.mint(orgId, 'v5-revoked');
    const c = await tb.connect(tb.urls.ws, t, v5);
    const gone = serverDisconnect(c);
    await tb.services.tokens.revoke(orgId, t.tokenId);
    expect((await gone).reasonCode).toBe(0x87);
  });

  test('admin kick: 0x98 (administrative action)', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'v5-kicked'), { ...v5, clientId: 'v5-kick-me' });
    const gone = serverDisconnect(c);
    await tb.services.store.changes.append('session.kick', orgId, 'v5-kick-me', Date.now());
    expect((await gone).reasonCode).toBe(0x98);
  });

  test('takeover by the same client id: 0x8E (session taken over)', async () => {
    const t = await tb.mint(orgId, 'v5-taken');
    const first = await tb.connect(tb.urls.mqtt, t, { ...v5, clientId: 'v5-same-id' });
    const gone = serverDisconnect(first);
    await tb.connect(tb.urls.mqtts!, t, { ...v5, clientId: 'v5-same-id' });
    expect((await gone).reasonCode).toBe(0x8e);
  });

  test('max_connections lowered below the live sessions: the newest end with 0x97 (quota exceeded)', async () => {
    const org = await tb.newOrg({ limits: { maxConnections: 3 } });
    const oldest = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'q1'), v5);
    await sleep(5);
    const middle = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'q2'), v5);
    await sleep(5);
    const newest = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'q3'), v5);
    const ends = [serverDisconnect(middle), serverDisconnect(newest)];
    await tb.services.orgs.update(org, { limits: { maxConnections: 1 } });
    expect((await Promise.all(ends)).map((p) => p.reasonCode)).toEqual([0x97, 0x97]);
    expect(oldest.connected).toBe(true);
  });

  test('a 3.1.1 client has no DISCONNECT to receive: its connection is closed', async () => {
    const t = await tb.mint(orgId, 'v4-revoked');
    const c = await tb.connect(tb.urls.mqtt, t);
    let disconnectPacket = false;
    c.on('disconnect', () => (disconnectPacket = true));
    await tb.services.tokens.revoke(orgId, t.tokenId);
    await whenClosed(c, 1500);
    expect(disconnectPacket).toBe(false);
  });
});

describe('ends decided by the broker configuration', () => {
  test('SIGNALGATE_DENIED_PUBLISH=disconnect: an ACL refusal ends an MQTT 5 session with 0x87', async () => {
    const strict = await startTestBroker('mqtt5-strict', { SIGNALGATE_DENIED_PUBLISH: 'disconnect' });
    try {
      const org = await strict.newOrg({ rules: { publish: ['ok/#'], subscribe: ['ok/#'], presence: false, history: false } });
      const c = await strict.connect(strict.urls.mqtt, await strict.mint(org, 'strict'), v5);
      const gone = serverDisconnect(c);
      c.publish('forbidden', 'x', { qos: 0 });
      expect((await gone).reasonCode).toBe(SESSION_ENDS.denied_publish);
    } finally {
      await strict.stop();
    }
  });

  // Read off the wire with a plain WebSocket, not mqtt.js: under the full suite's load mqtt.js's
  // 'disconnect' event sometimes never came (2 of 7 full runs, also with a 10 s wait; never alone).
  // Whether the frame was lost or mqtt.js dropped it on the close was not settled; here the test
  // sees every frame the broker sends before the close (3 of 3 passed beside two busy loops).
  test('broker shutdown: 0x8B (server shutting down)', async () => {
    const leaving = await startTestBroker('mqtt5-shutdown');
    const org = await leaving.newOrg();
    const t = await leaving.mint(org, 'stayer');
    const ws = new WebSocket(leaving.urls.ws.replace(/\/mqtt$/, '/'), 'mqtt');
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const packets: { cmd: string; reasonCode?: number }[] = [];
    parser.on('packet', (p) => packets.push(p as never));
    ws.on('message', (d: Buffer) => parser.parse(d));
    const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('open', () => {
        ws.send(mqttPacket.generate({
          cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'stayer-1', keepalive: 60,
          username: t.username, password: Buffer.from(t.password),
        } as never, { protocolVersion: 5 }));
        resolve();
      });
    });
    for (let i = 0; i < 200 && !packets.some((p) => p.cmd === 'connack'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(packets).toEqual([expect.objectContaining({ cmd: 'connack', reasonCode: 0 })]);
    await leaving.stop();
    await closed;
    expect(packets.map((p) => [p.cmd, p.reasonCode])).toEqual([['connack', 0], ['disconnect', SESSION_ENDS.broker_shutdown]]);
  });
});
