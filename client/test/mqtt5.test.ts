// What the SDK puts on the wire per preset (MQTT 5 for desktop, agent and server, 3.1.1 for mobile,
// as the official SDK does), what a persistent session means under MQTT 5, and seed 004's
// refusal recovery when the refusal is CONNACK 0x87. A relay between SDK and broker decodes the
// real packets.
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import type { IConnackPacket, IConnectPacket, IDisconnectPacket, Packet } from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import CloudSignal, { type CloudSignalOptions } from '@signalgate/client';
import { Inbox, connectClient, eventually, mintLikeSeed002, newOrg, startStack, type Org, type Stack } from './support/fixtures.js';
import { WireTap } from './support/wireTap.js';

let stack: Stack;
let org: Org;
let tap: WireTap;
const clients: CloudSignal[] = [];
const raw: MqttClient[] = [];
let n = 0;

beforeAll(async () => {
  stack = await startStack('sdk-mqtt5');
  org = await newOrg(stack, 'MQTT5 Co');
  tap = await WireTap.start(stack.broker.ports.mqtt!);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.destroy()));
});

afterAll(async () => {
  for (const r of raw) r.end(true);
  await tap.stop();
  await stack.stop();
});

function sdk(opts: CloudSignalOptions = {}): CloudSignal {
  const c = new CloudSignal({ tokenServiceUrl: stack.api.url, authRetryDelaySeconds: 0.05, ...opts });
  clients.push(c);
  return c;
}

/** Connects through the relay with a token minted by the SDK; returns the connection's packets. */
async function connectThroughTap(client: CloudSignal, user = `mqtt5-${n++}@example.com`) {
  const before = tap.connections.length;
  await client.connectWithToken({ host: tap.url, organizationId: org.orgId, secretKey: org.secretKey, userEmail: user });
  const conn = tap.connections[before]!;
  return { connect: conn.fromClient[0] as IConnectPacket, connack: conn.fromBroker[0] as IConnackPacket, conn };
}

async function peer(): Promise<MqttClient> {
  const t = await mintLikeSeed002(stack, org, `peer-${n++}@example.com`, { ttl_seconds: 600 });
  const c = await connectClient(stack.mqttUrl, { username: t.username, password: t.password });
  raw.push(c);
  return c;
}

const ofType = <C extends Packet['cmd']>(packets: Packet[], cmd: C) => packets.filter((p) => p.cmd === cmd) as Extract<Packet, { cmd: C }>[];

describe('the CONNECT each preset sends', () => {
  test.each([
    { preset: 'desktop', protocolVersion: 5, keepalive: 60 },
    { preset: 'agent', protocolVersion: 5, keepalive: 30 },
    { preset: 'server', protocolVersion: 5, keepalive: 30 },
    { preset: 'mobile', protocolVersion: 4, keepalive: 60 },
  ] as const)('$preset: MQTT level $protocolVersion, keepalive $keepalive s, persistent session, client id cs_ + 8 characters', async ({ preset, protocolVersion, keepalive }) => {
    const client = sdk({ preset });
    const { connect, connack } = await connectThroughTap(client);
    expect(connect).toMatchObject({ cmd: 'connect', protocolVersion, clean: false, keepalive, clientId: client.clientId });
    expect(client.clientId).toMatch(/^cs_[A-Za-z0-9]{8}$/);
    expect(connack.cmd).toBe('connack');
    if (protocolVersion === 5) {
      expect(connack.reasonCode).toBe(0);
      // Our decision (README): a persistent session outlives a dropped connection for an hour.
      expect(connect.properties?.sessionExpiryInterval).toBe(3600);
    } else {
      expect(connack.returnCode).toBe(0);
      expect(connect.properties).toBeUndefined();
    }
  });

  test("no preset in Node is 'server'; protocolVersion overrides any preset", async () => {
    expect((await connectThroughTap(sdk())).connect).toMatchObject({ protocolVersion: 5, keepalive: 30 });
    expect((await connectThroughTap(sdk({ preset: 'desktop', protocolVersion: 4 }))).connect).toMatchObject({ protocolVersion: 4, keepalive: 60 });
    expect((await connectThroughTap(sdk({ preset: 'mobile', protocolVersion: 5 }))).connect).toMatchObject({ protocolVersion: 5, keepalive: 60 });
  });

  test('a client id given by the app is used as it is', async () => {
    const client = sdk({ preset: 'desktop', clientId: 'my-app-device-7' });
    expect((await connectThroughTap(client)).connect.clientId).toBe('my-app-device-7');
  });
});

describe('persistent sessions under MQTT 5', () => {
  /** Drops the network under `client` and waits until the broker has let go of the connection. */
  async function dropNetwork(client: CloudSignal): Promise<void> {
    tap.sever();
    await eventually(() => client.status === 'reconnecting', 'the SDK notices the drop');
    await eventually(async () => !(await stack.services.sessions.list(org.orgId)).some((s) => s.clientId === client.clientId), 'the broker notices the drop');
  }

  test('after a network drop the session is still there: messages published meanwhile arrive, nothing is resubscribed', async () => {
    const client = sdk({ preset: 'desktop', reconnectPeriodMs: 500 });
    const inbox = new Inbox();
    client.onMessage(inbox.push);
    await connectThroughTap(client);
    await client.subscribe('chat/away');
    const pub = await peer();
    const before = tap.connections.length;
    await dropNetwork(client);
    await pub.publishAsync('chat/away', '"while away"', { qos: 1 });
    await eventually(() => client.status === 'connected', 'reconnected');
    await inbox.waitFor('chat/away');
    expect(inbox.on('chat/away')).toEqual(['while away']);
    const resumed = tap.connections[before]!;
    expect((resumed.fromBroker[0] as IConnackPacket).sessionPresent).toBe(true);
    expect(ofType(resumed.fromClient, 'subscribe')).toEqual([]);
  });

  test("sessionExpirySeconds: 0 (the official SDK's wire): the session ends with the connection and the SDK subscribes again", async () => {
    const client = sdk({ preset: 'desktop', reconnectPeriodMs: 200, sessionExpirySeconds: 0 });
    const inbox = new Inbox();
    client.onMessage(inbox.push);
    const { connect } = await connectThroughTap(client);
    expect(connect.properties?.sessionExpiryInterval ?? 0).toBe(0);
    await client.subscribe('chat/gone');
    const before = tap.connections.length;
    await dropNetwork(client);
    await eventually(() => client.status === 'connected', 'reconnected');
    const fresh = tap.connections[before]!;
    expect((fresh.fromBroker[0] as IConnackPacket).sessionPresent).toBe(false);
    await eventually(() => ofType(fresh.fromBroker, 'suback').length === 1, 'the subscription sent again');
    expect(ofType(fresh.fromClient, 'subscribe')[0]!.subscriptions).toEqual([expect.objectContaining({ topic: 'chat/gone', qos: 1 })]);
    const pub = await peer();
    await pub.publishAsync('chat/gone', '"after"', { qos: 1 });
    await inbox.waitFor('chat/gone');
  });

  test('destroy() ends the session at once: DISCONNECT with Session Expiry Interval 0, the broker keeps nothing', async () => {
    const client = sdk({ preset: 'desktop' });
    const { conn } = await connectThroughTap(client, 'leaver5@example.com');
    await client.subscribe('chat/leaving5');
    await client.destroy();
    const last = conn.fromClient.at(-1) as IDisconnectPacket;
    expect(last).toMatchObject({ cmd: 'disconnect', properties: { sessionExpiryInterval: 0 } });
    // Resuming the id finds no session.
    const t = await mintLikeSeed002(stack, org, 'leaver5@example.com');
    const at = tap.connections.length;
    raw.push(await connectClient(tap.url, {
      username: t.username, password: t.password, clientId: client.clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 },
    }));
    expect(tap.connections[at]!.fromBroker[0]).toMatchObject({ cmd: 'connack', reasonCode: 0, sessionPresent: false });
  });
});

describe('broker refusals under MQTT 5 (seed 004)', () => {
  test('a revoked token: CONNACK 0x87 on the reconnect, a fresh token is minted, the subscription still delivers', async () => {
    const client = sdk({ preset: 'desktop', reconnectPeriodMs: 100 });
    const inbox = new Inbox();
    client.onMessage(inbox.push);
    const before = tap.connections.length;
    await connectThroughTap(client, 'revoked5@example.com');
    await client.subscribe('chat/revoked5');
    const first = client.tokenInfo!.tokenId;
    await stack.services.tokens.revoke(org.orgId, first);
    await eventually(() => client.status === 'connected' && client.tokenInfo!.tokenId !== first, 'recovered with a new token', 10_000);
    const connacks = tap.connections.slice(before).map((c) => c.fromBroker[0] as IConnackPacket | undefined);
    expect(connacks.map((p) => p?.reasonCode)).toContain(0x87);
    expect(connacks.at(-1)?.reasonCode).toBe(0);
    const pub = await peer();
    await pub.publishAsync('chat/revoked5', '"still here"', { qos: 1 });
    await inbox.waitFor('chat/revoked5');
  });
});
