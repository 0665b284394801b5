// Malformed or hostile input ends that one connection cleanly; the broker keeps serving others.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { storeUnavailable } from '@signalgate/shared';
import { eventually, inbox, onTopic, startTestBroker, whenClosed, type TestBroker } from './support/harness.js';
import { rawExchange } from './support/raw.js';

let tb: TestBroker;
let orgId: string;

beforeAll(async () => {
  tb = await startTestBroker('robust', { SIGNALGATE_CONNECT_TIMEOUT: '1', SIGNALGATE_MAX_PACKET_BYTES: '4096' });
  orgId = await tb.newOrg();
});
afterAll(async () => tb?.stop());

/** Writes `bytes` on a raw TCP socket; resolves with what the broker sent once it closes the socket. */
const rawSession = async (bytes: Buffer[], timeoutMs = 3000) => ({ received: await rawExchange(tb.broker.ports.mqtt!, bytes, timeoutMs) });

const connectPacket = (username: string, password: string) =>
  mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'raw', keepalive: 30, username, password: Buffer.from(password) });

/** The broker still works: a fresh pair of clients exchanges a message. */
async function stillServes() {
  const a = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, `alive-${Math.random()}`));
  const box = inbox(a);
  await a.subscribeAsync('alive');
  await a.publishAsync('alive', 'yes');
  await box.waitFor(onTopic('alive', 'yes'));
  a.end(true);
}

describe('a database that cannot answer for a moment', () => {
  test('the change feed unreadable for a while: the broker keeps serving, and a revoke made meanwhile is applied once it answers', async () => {
    const t = await tb.mint(orgId, 'outage-revoked');
    const c = await tb.connect(tb.urls.mqtt, t);
    const changes = tb.services.store.changes as { since: (seq: number) => Promise<unknown> };
    const since = changes.since;
    let refused = 0;
    changes.since = () => {
      refused++;
      return Promise.reject(storeUnavailable(new Error('connection lost')));
    };
    try {
      await tb.services.tokens.revoke(orgId, t.tokenId);
      await eventually(() => refused >= 3); // polls kept coming, each refused
    } finally {
      changes.since = since;
    }
    await whenClosed(c, 1500);
    await stillServes();
  });
});

describe('malformed MQTT', () => {
  test('garbage bytes close the socket', async () => {
    await rawSession([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    await rawSession([Buffer.from([0x00, 0x00, 0x00, 0x00])]);
    await stillServes();
  });

  test('an invalid remaining length (5 continuation bytes) closes the socket', async () => {
    await rawSession([Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])]);
    await stillServes();
  });

  test('a packet declared larger than SIGNALGATE_MAX_PACKET_BYTES closes the socket before its body arrives', async () => {
    // well before the 1 s connect timeout could be what closes it
    await rawSession([Buffer.from([0x10, 0x80, 0x80, 0x04])], 500); // CONNECT announcing 65 536 bytes
    const t = await tb.mint(orgId, 'big-publisher');
    const socket = net.connect(tb.broker.ports.mqtt!, '127.0.0.1');
    socket.on('error', () => {});
    const connack = await new Promise<Buffer>((r) => socket.once('data', r).write(connectPacket(t.username, t.password)));
    expect(connack).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x00]));
    const closed = new Promise<string>((r) => {
      socket.once('close', () => r('closed'));
      setTimeout(() => r('still open'), 1000);
    });
    socket.write(Buffer.from([0x30, 0x80, 0x80, 0x01])); // PUBLISH announcing 16 384 bytes
    expect(await closed).toBe('closed');
    socket.destroy();
    await stillServes();
  });

  test('a truncated frame is closed by the connect timeout', async () => {
    const t = await tb.mint(orgId, 'truncated');
    await rawSession([connectPacket(t.username, t.password).subarray(0, 10)]);
    await stillServes();
  });

  test('a connection that never sends CONNECT is closed after the configured timeout', async () => {
    await rawSession([]);
  });

  test('a second CONNECT and a packet before CONNECT close the connection', async () => {
    const t = await tb.mint(orgId, 'double');
    await rawSession([connectPacket(t.username, t.password), connectPacket(t.username, t.password)]);
    await rawSession([mqttPacket.generate({ cmd: 'pingreq' })]);
    await stillServes();
  });

  test('a will with a wildcard topic is not published anywhere', async () => {
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'will-wild-watcher'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('#');
    const t = await tb.mint(orgId, 'will-wild');
    const withWill = mqttPacket.generate({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'wild', keepalive: 30, username: t.username,
      password: Buffer.from(t.password), will: { topic: 'wild/#', payload: Buffer.from('w'), qos: 0, retain: false },
    });
    const socket = net.connect(tb.broker.ports.mqtt!, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('data', () => r()).write(withWill));
    socket.destroy();
    await watcher.publishAsync('sentinel', 'after');
    await box.waitFor(onTopic('sentinel', 'after'));
    expect(box.messages.map((m) => m.topic)).toEqual(['sentinel']);
  });
});

describe('WebSocket listener', () => {
  const tryPath = (path: string) =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${tb.broker.ports.ws}${path}`, 'mqtt');
      ws.on('open', () => {
        ws.close();
        resolve('open');
      });
      ws.on('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
      ws.on('error', (err) => resolve(`error ${err.message}`));
    });

  test('upgrades on / and /mqtt only; other paths get 404', async () => {
    expect(await tryPath('/')).toBe('open');
    expect(await tryPath('/mqtt')).toBe('open');
    expect(await tryPath('/mqtt?x=1')).toBe('open');
    expect(await tryPath('/other')).toBe('http 404');
    expect(await tryPath('/mqtt/extra')).toBe('http 404');
  });

  test('a plain HTTP request gets 404', async () => {
    const res = await fetch(`http://127.0.0.1:${tb.broker.ports.ws}/mqtt`);
    expect(res.status).toBe(404);
  });

  test('a WebSocket frame larger than SIGNALGATE_MAX_PACKET_BYTES closes the connection', async () => {
    const closedWith = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${tb.broker.ports.ws}/mqtt`, 'mqtt');
      ws.on('open', () => ws.send(Buffer.alloc(8192)));
      ws.on('close', (code) => resolve(code));
      ws.on('error', () => {});
    });
    expect(closedWith).toBe(1009); // message too big
    await stillServes();
  });

  test('garbage over WebSocket closes that connection', async () => {
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${tb.broker.ports.ws}/mqtt`, 'mqtt');
      ws.on('open', () => ws.send(Buffer.from([0x00, 0x01, 0x02, 0x03])));
      ws.on('close', () => resolve());
      ws.on('error', () => {});
    });
    await stillServes();
  });
});
