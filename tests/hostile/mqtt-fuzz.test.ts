// MQTT fuzz at the TCP and WebSocket listeners: random bytes, hand-made hostile packets (bad
// lengths, truncated frames, huge CONNECT fields, empty/invalid SUBSCRIBE filters, PUBLISH with
// wildcards, NUL or '$' in the topic) and valid mqtt-packet packets with mutated bytes, sent over
// raw sockets — unauthenticated, and after a valid CONNECT so the post-auth hooks see them too.
// Meanwhile two well-behaved mqtt.js clients (one per transport, in another organisation) keep
// exchanging messages. The broker must not crash, must keep serving them without a drop, must leave
// no session rows behind, and its memory must stay bounded.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { connectClient, nextMessage, startStack, type Stack } from '../support/stack.js';
import { bystander, footprint, mutationsOf, rawPacket, str, type Bystander } from './support/fuzzKit.js';

const SEED = 4004;
const CASES_PER_TRANSPORT = 1500;
const CONCURRENCY = 24;
/** How long a fuzz connection may stay open before we hang up (the broker may keep waiting for bytes). */
const LINGER_MS = 60;

let stack: Stack;
let fuzzOrg: string;
let fuzzCreds: { username: string; password: string };

beforeAll(async () => {
  // A small packet cap makes "huge" fields cross it cheaply; the connect timeout stays at its default.
  stack = await startStack('mqtt-fuzz', { SIGNALGATE_MAX_PACKET_BYTES: '65536' });
  fuzzOrg = (await stack.services.orgs.create('Fuzz Co')).org.id;
  const t = await stack.services.tokens.mint({ orgId: fuzzOrg, userId: 'fuzzer' });
  fuzzCreds = { username: t.username, password: t.password };
});
afterAll(async () => stack?.stop());

// ---- Case generation ------------------------------------------------------------------------------

let connects = 0;
const connectBytes = (fields: Partial<mqttPacket.IConnectPacket> = {}) =>
  mqttPacket.generate({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `fz-${connects++}`, keepalive: 30,
    username: fuzzCreds.username, password: Buffer.from(fuzzCreds.password), ...fields,
  } as mqttPacket.IConnectPacket);

const rawPublish = (topic: Buffer | string, payload = 'x', qos = 0) =>
  rawPacket(0x30 | (qos << 1), Buffer.concat([str(topic), qos > 0 ? Buffer.from([0, 7]) : Buffer.alloc(0), Buffer.from(payload)]));
const rawSubscribe = (filters: (Buffer | string)[], qos = 0) =>
  rawPacket(0x82, Buffer.concat([Buffer.from([0, 9]), ...filters.flatMap((f) => [str(f), Buffer.from([qos])])]));

const HOSTILE_TOPICS: (string | Buffer)[] = [
  '', '#', '+', 'a/#', 'a/+/b', 'a\u0000b', '\u0000', '$SYS/x', '$presence/u1', '$org_aaaaaaaaaaaa/x', 'org_aaaaaaaaaaaa/x', '/', '//',
  'a'.repeat(65535), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from([0xed, 0xa0, 0x80]), '\uFEFFa', 'é'.repeat(300),
];
const HOSTILE_FILTERS: (string | Buffer)[] = [
  '', '#/a', 'a#', 'a/#/b', '++', 'a+', 'a\u0000', '$SYS/#', '$presence/#', '$share/g/#', '$share//#', '#', '+/#',
  '$org_aaaaaaaaaaaa/#', 'x'.repeat(65535), Buffer.from([0xc3, 0x28]),
];

/** One fuzz case: whether to CONNECT properly first, then the bytes (split into writes). */
interface FuzzCase {
  authenticate: boolean;
  chunks: Buffer[];
}

const bytesArb = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max }).map((a) => Buffer.from(a));

const validPacketArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.record({ topic: fc.constantFrom('a', 'chat/x', 'b/c/d'), payload: bytesArb(40), qos: fc.constantFrom(0, 1, 2), retain: fc.boolean(), dup: fc.boolean(), messageId: fc.integer({ min: 1, max: 65535 }) })
    .map((p) => mqttPacket.generate({ cmd: 'publish', ...p })),
  fc.record({ messageId: fc.integer({ min: 1, max: 65535 }), subscriptions: fc.array(fc.record({ topic: fc.constantFrom('a', 'a/#', '+', 'chat/+'), qos: fc.constantFrom(0, 1, 2) }), { minLength: 1, maxLength: 3 }) })
    .map((p) => mqttPacket.generate({ cmd: 'subscribe', ...p } as mqttPacket.ISubscribePacket)),
  fc.record({ messageId: fc.integer({ min: 1, max: 65535 }), unsubscriptions: fc.array(fc.constantFrom('a', '#', 'x/+'), { minLength: 1, maxLength: 3 }) })
    .map((p) => mqttPacket.generate({ cmd: 'unsubscribe', ...p } as mqttPacket.IUnsubscribePacket)),
  fc.constantFrom('pingreq', 'disconnect').map((cmd) => mqttPacket.generate({ cmd } as mqttPacket.Packet)),
  fc.record({ cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'), messageId: fc.integer({ min: 1, max: 65535 }) })
    .map((p) => mqttPacket.generate(p as mqttPacket.Packet)),
  fc.record({ clientId: fc.string({ minLength: 1, maxLength: 30 }), keepalive: fc.integer({ min: 0, max: 65535 }), clean: fc.boolean() })
    .map((p) => connectBytes(p)),
);

const mutatedArb = mutationsOf(validPacketArb);

const hostileArb: fc.Arbitrary<Buffer> = fc.oneof(
  // remaining lengths: too many continuation bytes, longer than the packet, over the packet cap
  fc.constantFrom(
    Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]),
    Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]),
    Buffer.from([0x82, 0x7f, 0x00, 0x01]),
    Buffer.from([0x30, 0x00]),
    Buffer.from([0x82, 0x00]),
    Buffer.from([0xa2, 0x02, 0x00, 0x01]),
    Buffer.from([0xf0, 0x00]), // reserved packet type 15
    Buffer.from([0x00, 0x00]), // reserved packet type 0
    Buffer.from([0x31, 0x80]), // truncated length
  ),
  // CONNECT with huge fields (the client id beyond 65535 is cut by the 2-byte length; the packet cap applies)
  fc.constantFrom('clientId', 'username', 'password', 'will').map((field) => {
    const big = 'A'.repeat(60000);
    if (field === 'will') return connectBytes({ will: { topic: big.slice(0, 30000), payload: Buffer.from(big.slice(0, 30000)), qos: 1, retain: true } } as Partial<mqttPacket.IConnectPacket>);
    if (field === 'password') return connectBytes({ password: Buffer.from(big) });
    return connectBytes({ [field]: big });
  }),
  // CONNECT with a wrong protocol name / level / reserved flag
  fc.constantFrom(
    rawPacket(0x10, Buffer.concat([str('MQTT'), Buffer.from([5, 0x02, 0, 30]), str('v5')])),
    rawPacket(0x10, Buffer.concat([str('MQXX'), Buffer.from([4, 0x02, 0, 30]), str('bad')])),
    rawPacket(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0x03, 0, 30]), str('reserved-bit')])),
    rawPacket(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0x42, 0, 30]), str('pw-no-user'), str('pw')])),
  ),
  // an empty client id with a persistent session (MQTT-3.1.3-8: refused with CONNACK 2)
  fc.constant(0).map(() => rawPacket(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0xc0, 0, 30]), str(''), str(fuzzCreds.username), str(fuzzCreds.password)]))),
  fc.constantFrom(...HOSTILE_TOPICS).chain((t) => fc.constantFrom(0, 1, 2).map((q) => rawPublish(t, 'p', q))),
  fc.array(fc.constantFrom(...HOSTILE_FILTERS), { minLength: 1, maxLength: 3 }).chain((fs) => fc.constantFrom(0, 1, 2, 3).map((q) => rawSubscribe(fs, q))),
  // SUBSCRIBE with no filters at all, and UNSUBSCRIBE of hostile filters
  fc.constant(rawPacket(0x82, Buffer.from([0, 3]))),
  fc.constantFrom(...HOSTILE_FILTERS).map((f) => rawPacket(0xa2, Buffer.concat([Buffer.from([0, 4]), str(f)]))),
);

const caseArb: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.boolean(), fc.array(fc.oneof({ weight: 2, arbitrary: mutatedArb }, { weight: 2, arbitrary: hostileArb }, { weight: 1, arbitrary: bytesArb(300) }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 3 }))
  .map(([authenticate, packets, split]) => {
    // Split the concatenated bytes into `split` writes/frames so packets straddle boundaries too.
    const all = Buffer.concat(packets);
    const chunks: Buffer[] = [];
    const size = Math.max(1, Math.ceil(all.length / split));
    for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size));
    return { authenticate, chunks };
  });

// ---- Transports -------------------------------------------------------------------------------------

function tcpCase(c: FuzzCase): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(stack.broker.ports.mqtt!, '127.0.0.1');
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.on('error', () => {});
    socket.on('close', () => resolve());
    socket.on('connect', () => {
      if (c.authenticate) socket.write(connectBytes());
      for (const ch of c.chunks) socket.write(ch);
      setTimeout(done, LINGER_MS);
    });
  });
}

function wsCase(c: FuzzCase): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${stack.broker.ports.ws}/mqtt`, 'mqtt');
    const done = () => {
      ws.terminate();
      resolve();
    };
    ws.on('error', () => {});
    ws.on('close', () => resolve());
    ws.on('open', () => {
      if (c.authenticate) ws.send(connectBytes());
      for (const ch of c.chunks) ws.send(ch);
      setTimeout(done, LINGER_MS);
    });
  });
}

async function runAll(cases: FuzzCase[], send: (c: FuzzCase) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < cases.length) await send(cases[next++]!);
  }));
}

// ---- The bystanders ---------------------------------------------------------------------------------




describe('MQTT fuzz over TCP and WebSocket', () => {
  test('the broker survives every case, keeps serving bystanders without a drop, and leaks neither sessions nor memory', async () => {
    const tcpCases = fc.sample(caseArb, { seed: SEED, numRuns: CASES_PER_TRANSPORT });
    const wsCases = fc.sample(caseArb, { seed: SEED + 1, numRuns: CASES_PER_TRANSPORT });

    const homeOrg = (await stack.services.orgs.create('Bystanders')).org.id;
    const overTcp = await bystander(stack, stack.mqttUrl, homeOrg, 'bystander-tcp', 4);
    const overWs = await bystander(stack, stack.wsUrl, homeOrg, 'bystander-ws', 4);
    for (const b of [overTcp, overWs]) {
      b.timer = setInterval(() => {
        const n = `${b === overTcp ? 'tcp' : 'ws'}-${b.sent++}`;
        b.client.publish('alive/ping', n, { qos: 1 });
      }, 20);
    }

    // Warm up (first connections allocate parsers, buffers, JIT code), then measure.
    await runAll(tcpCases.slice(0, 200), tcpCase);
    await runAll(wsCases.slice(0, 200), wsCase);
    await new Promise((r) => setTimeout(r, 300));
    const before = footprint();

    await runAll(tcpCases.slice(200), tcpCase);
    await runAll(wsCases.slice(200), wsCase);

    for (const b of [overTcp, overWs]) clearInterval(b.timer);
    // Every message each bystander published reached both (QoS 1, same org, subscribed to alive/#).
    const expected = [...Array(overTcp.sent).keys()].map((i) => `tcp-${i}`).concat([...Array(overWs.sent).keys()].map((i) => `ws-${i}`));
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && [overTcp, overWs].some((b) => expected.some((m) => !b.received.has(m)))) await new Promise((r) => setTimeout(r, 50));
    for (const b of [overTcp, overWs]) {
      expect(expected.filter((m) => !b.received.has(m))).toEqual([]);
      expect(b.closes).toBe(0);
      expect(b.client.connected).toBe(true);
    }
    expect(overTcp.sent).toBeGreaterThan(20);

    // Fuzz connections are all gone: no session row of the fuzz org is left behind.
    await new Promise((r) => setTimeout(r, 500));
    expect(await stack.services.store.sessions.list(fuzzOrg)).toEqual([]);

    const after = footprint();
    // Generous bounds: a leak of even a few KiB per case (2600 cases) or a socket per case shows up.
    expect(after.rss - before.rss).toBeLessThan(96 * 1024 * 1024);
    expect(after.fds - before.fds).toBeLessThan(40);

    // And a fresh client still gets in and is served.
    const fresh = await connectClient(stack.mqttUrl, (({ username, password }) => ({ username, password }))(await stack.services.tokens.mint({ orgId: homeOrg, userId: 'late' })));
    await fresh.subscribeAsync('alive/late');
    const got = nextMessage(fresh);
    await fresh.publishAsync('alive/late', 'still here');
    expect((await got).payload).toBe('still here');
    fresh.end(true);
    overTcp.client.end(true);
    overWs.client.end(true);
  }, 120_000);
});
