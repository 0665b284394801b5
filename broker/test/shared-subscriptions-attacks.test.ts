// Shared subscriptions `$share/<group>/<filter>` attacked: a tenant with a valid token, and a
// careless one, against a real broker (real mqtt.js 3.1.1/5 clients, and raw MQTT bytes where
// mqtt.js will not send what is tried). A group is held by aedes as `$<org>/share/<group>/<filter>`
// per member (a topic nobody may publish to) and subscribes aedes itself on the filter inside the
// org's namespace, handing each message to one member (broker/src/sharedGroups.ts).
//
// Every test is a defence that holds; the ones on overlapping subscriptions of persistent sessions, QoS
// through a group beside a plain filter and `$share` response topics failed before the fixes in
// aedesFixes.ts (outgoingClearMessageId) and sharedGroups.ts (pick skips members already sent it).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { IClientOptions, MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { Aedes } from 'aedes';
import {
  connectWithConnack, eventually, inbox, onTopic, sleep, startTestBroker, subackCodes, whenClosed, type Received, type TestBroker,
} from './support/harness.js';
import { rawPacket, str, u16 } from '../../tests/hostile/support/fuzzKit.js';

let tb: TestBroker;
/** Subscribe `#` (and `$spaces/#`), publish anything, presence: the widest tenant. */
let orgA: string;
/** Same rules, another organisation. */
let orgB: string;

beforeAll(async () => {
  tb = await startTestBroker('shared-attacks');
  const rules = { publish: ['#', '$spaces/#'], subscribe: ['#', '$spaces/#'], presence: true, history: false };
  orgA = await tb.newOrg({ rules });
  orgB = await tb.newOrg({ rules });
});
afterAll(async () => tb?.stop());

let seq = 0;
/** A fresh user id (and MQTT client id) per call. */
const uid = (label: string) => `${label}-${++seq}`;

async function client(org: string, label: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const id = uid(label);
  return tb.connect(tb.urls.mqtt, await tb.mint(org, id), { clientId: id, ...opts });
}

/** Listeners aedes' emitter holds for messages on `internalTopic` (groups' dispatchers and plain subscriptions). */
function listenersOn(internalTopic: string): number {
  return (tb.broker.aedes as unknown as { mq: { _matcher: { match(t: string): unknown[] } } }).mq._matcher.match(internalTopic).length;
}

type Persistence = {
  outgoingStream(c: { id: string }): AsyncIterable<unknown>;
  subscriptionsByClient(c: { id: string }): Promise<{ topic: string }[]>;
};
const persistence = () => (tb.broker.aedes as unknown as { persistence: Persistence }).persistence;

async function queuedFor(org: string, clientId: string): Promise<number> {
  let n = 0;
  for await (const _ of persistence().outgoingStream({ id: `${org}/${clientId}` })) n++;
  return n;
}

/** The reason code of the PUBACK an MQTT 5 publish gets (mqtt.js rejects a code of 0x80 or more). */
async function pubackCode(c: MqttClient, topic: string, payload: string, opts: Parameters<MqttClient['publishAsync']>[2] = { qos: 1 }): Promise<number> {
  try {
    return ((await c.publishAsync(topic, payload, opts)) as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}

/** Polls an asynchronous probe until it holds (harness' eventually() is synchronous in some versions). */
async function untilAsync(probe: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(20);
  }
}

const payloads = (box: { messages: Received[] }, prefix = '') => box.messages.map((m) => m.payload).filter((p) => p.startsWith(prefix));

// ---- Raw MQTT -----------------------------------------------------------------------------------------


function rawConnect(v: 4 | 5, creds: { username: string; password: string }, clientId: string, clean = true): Buffer {
  const flags = 0xc0 | (clean ? 0x02 : 0);
  return rawPacket(0x10, Buffer.concat([
    str('MQTT'), Buffer.from([v, flags]), u16(30), ...(v === 5 ? [Buffer.from([0])] : []),
    str(clientId), str(creds.username), str(creds.password),
  ]));
}
/** SUBSCRIBE with (filter, options byte) pairs. */
const rawSubscribe = (v: 4 | 5, filters: [string | Buffer, number][], messageId = 7) =>
  rawPacket(0x82, Buffer.concat([u16(messageId), ...(v === 5 ? [Buffer.from([0])] : []), ...filters.flatMap(([f, o]) => [str(f), Buffer.from([o])])]));
const rawPuback = (messageId: number) => rawPacket(0x40, u16(messageId));

interface Raw {
  received: Packet[];
  send(b: Buffer): void;
  waitFor(match: (p: Packet) => boolean, ms?: number): Promise<Packet | null>;
  closed: Promise<void>;
  isClosed(): boolean;
  socket: net.Socket;
}

function openRaw(v: 4 | 5): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const parser = mqttPacket.parser({ protocolVersion: v });
    const received: Packet[] = [];
    const waiters = new Set<{ match: (p: Packet) => boolean; done: (p: Packet | null) => void }>();
    let isClosed = false;
    let markClosed!: () => void;
    const closed = new Promise<void>((r) => (markClosed = r));
    const socket = net.connect(tb.broker.ports.mqtt!, '127.0.0.1');
    parser.on('packet', (p: Packet) => {
      received.push(p);
      for (const w of [...waiters]) if (w.match(p)) w.done(p);
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      isClosed = true;
      for (const w of [...waiters]) w.done(null);
      markClosed();
    });
    socket.once('connect', () =>
      resolve({
        received, closed, socket,
        isClosed: () => isClosed,
        send: (b) => void (socket.destroyed || socket.write(b)),
        waitFor(match, ms = 3000) {
          const seen = received.find(match);
          if (seen || isClosed) return Promise.resolve(seen ?? null);
          return new Promise((res) => {
            const w = { match, done: (p: Packet | null) => { clearTimeout(timer); waiters.delete(w); res(p); } };
            const timer = setTimeout(() => w.done(null), ms);
            waiters.add(w);
          });
        },
      }));
    socket.once('error', reject);
  });
}

async function rawSession(v: 4 | 5, org: string, clientId: string, clean = true, given?: { username: string; password: string }): Promise<Raw> {
  const token = given ?? (await tb.mint(org, clientId));
  const raw = await openRaw(v);
  raw.send(rawConnect(v, token, clientId, clean));
  const connack = await raw.waitFor((p) => p.cmd === 'connack');
  expect((connack as { returnCode?: number; reasonCode?: number } | null)?.returnCode ?? (connack as { reasonCode?: number } | null)?.reasonCode).toBe(0);
  return raw;
}

/** Resolves when `raw` closes or after `ms`, whichever is first (no timer left behind). */
async function closedWithin(raw: Raw, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([raw.closed, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

const isPublish = (p: Packet): p is Packet & { topic: string; payload: Buffer; messageId?: number; dup: boolean } => p.cmd === 'publish';

// ---- Organisations ------------------------------------------------------------------------------------

describe('organisations never mix, whatever the group is called', () => {
  test("group names holding another org's id, `$org_…`, unicode or 4 KB, on the same filter in two orgs: each org's messages go to its own group only", async () => {
    const names = [orgB, `$${orgB}`, orgA, 'grüße-😀', 'n'.repeat(4000), '..', ' '];
    const boxesA: ReturnType<typeof inbox>[] = [];
    const boxesB: ReturnType<typeof inbox>[] = [];
    for (const name of names) {
      const a = await client(orgA, 'xo-a', { protocolVersion: 5 });
      const b = await client(orgB, 'xo-b');
      expect(await subackCodes(a, [[`$share/${name}/xo/#`, 1]])).toEqual([1]);
      expect(await subackCodes(b, [[`$share/${name}/xo/#`, 1]])).toEqual([1]);
      boxesA.push(inbox(a));
      boxesB.push(inbox(b));
    }
    const pa = await client(orgA, 'xo-pa');
    const pb = await client(orgB, 'xo-pb');
    // Topics that spell the other org's internal names, from inside each org.
    for (const t of ['xo/1', `xo/${orgB}/x`, `xo/$${orgB}/share/${orgB}/xo/x`]) await pa.publishAsync(t, `A:${t}`, { qos: 1 });
    for (const t of ['xo/1', `xo/${orgA}/x`, `${orgA}/xo/1`]) await pb.publishAsync(t, `B:${t}`, { qos: 1 });
    // `$org_…/share/…` and `$share/…` as topic names are refused (they are no topics of the tenant).
    for (const t of [`$${orgA}/share/${orgB}/xo/1`, `$share/${orgB}/xo/1`]) await pb.publishAsync(t, `B:${t}`, { qos: 1 });
    await eventually(() => boxesA.every((b) => b.messages.length >= 3) && boxesB.every((b) => b.messages.length >= 2));
    await sleep(100);
    for (const b of boxesA) expect(payloads(b).sort()).toEqual(['A:xo/1', `A:xo/${orgB}/x`, `A:xo/$${orgB}/share/${orgB}/xo/x`].sort());
    for (const b of boxesB) expect(payloads(b).sort()).toEqual(['B:xo/1', `B:xo/${orgA}/x`].sort());
  });

  test('`$share/g/#` takes no `$` topic ($spaces, presence) and nothing of another organisation', async () => {
    const m = await client(orgA, 'dollar', { protocolVersion: 5 });
    expect(await subackCodes(m, [['$share/g/#', 1], ['$share/p/+/#', 1]])).toEqual([1, 1]);
    const box = inbox(m);
    const producer = await client(orgA, 'dollar-p');
    await producer.publishAsync('$spaces/room/cursor', 'space', { qos: 1 });
    (await client(orgA, 'dollar-presence')).end(true); // a presence change in the org
    const other = await client(orgB, 'dollar-other');
    await other.publishAsync('jobs/other-org', 'foreign', { qos: 1 });
    await producer.publishAsync('dollar/sentinel', 'sentinel', { qos: 1 });
    await box.waitFor(onTopic('dollar/sentinel'));
    await sleep(100);
    expect(payloads(box)).toEqual(['sentinel']);
  });
});

// ---- Around the group ---------------------------------------------------------------------------------

describe('nothing reaches a member around its group', () => {
  test('a client PUBLISH on `$share/…` (3.1.1 and 5) is refused and delivers nothing', async () => {
    const m = await client(orgA, 'around');
    await m.subscribeAsync('$share/g/around/x', { qos: 1 });
    const box = inbox(m);
    const v4 = await client(orgA, 'around-v4');
    await v4.publishAsync('$share/g/around/x', 'v4', { qos: 1 });
    const v5 = await client(orgA, 'around-v5', { protocolVersion: 5 });
    expect(await pubackCode(v5, '$share/g/around/x', 'v5')).toBe(0x87);
    expect(await pubackCode(v5, `$${orgA}/share/g/around/x`, 'v5-internal')).toBe(0x87);
    await v5.publishAsync('$share/g/around/x', 'v5-q0', { qos: 0 });
    await v4.publishAsync('around/x', 'real', { qos: 1 });
    await box.waitFor(onTopic('around/x', 'real'));
    await sleep(100);
    expect(payloads(box)).toEqual(['real']);
  });

  test('a will on `$share/…` is not published; a will on the filter goes to one member', async () => {
    const members = [await client(orgA, 'will-m1'), await client(orgA, 'will-m2')];
    for (const m of members) await m.subscribeAsync('$share/w/will/#', { qos: 1 });
    const boxes = members.map(inbox);
    const bad = await client(orgA, 'will-bad', { will: { topic: '$share/w/will/x', payload: Buffer.from('bad'), qos: 1, retain: false } });
    const good = await client(orgA, 'will-good', { will: { topic: 'will/x', payload: Buffer.from('good'), qos: 1, retain: false } });
    bad.stream.destroy();
    good.stream.destroy();
    await eventually(() => boxes.some((b) => b.messages.length > 0));
    await sleep(200);
    expect(boxes.flatMap((b) => payloads(b))).toEqual(['good']);
  });

  test("the REST channel: a message on `$share/…` reaches nobody (authorizeForward refuses `$share` as a received topic); a group counts once", async () => {
    const org = await tb.newOrg({ rules: { publish: ['#'], subscribe: ['#'], presence: false, history: false } });
    const members = [await client(org, 'rest-m1'), await client(org, 'rest-m2', { protocolVersion: 5 })];
    for (const m of members) await m.subscribeAsync('$share/r/rest/#', { qos: 1 });
    const boxes = members.map(inbox);
    // The API refuses `$share` (canPublish); the channel trusts it, so this is the broker's own last line.
    // (Its `subscribers` count for that topic is the members, 2: serverPublish.ts counts their
    // `$<org>/share/…` keys as matching filters. Unreachable through the API, which answers 403.)
    await tb.broker.publisher.publish(org, [{ topic: '$share/r/rest/x', payload: Buffer.from('direct'), qos: 1, retain: false }]);
    await tb.broker.publisher.publish(org, [{ topic: `$${org}/share/r/rest/x`, payload: Buffer.from('double-prefixed'), qos: 1, retain: false }]);
    const [normal] = await tb.broker.publisher.publish(org, [{ topic: 'rest/x', payload: Buffer.from('normal'), qos: 1, retain: false }]);
    expect(normal!.subscribers).toBe(1);
    await eventually(() => boxes.some((b) => b.messages.length > 0));
    await sleep(150);
    expect(boxes.flatMap((b) => payloads(b))).toEqual(['normal']);
  });

  // Was a defect (fixed: the check uses canReceive, topic names only): rights.canSubscribe answers for `$share/<g>/<f>` as for `<f>`, and the PUBLISH
  // hook's Response Topic check (broker/src/hooks/publish.ts, `!s.rights.canSubscribe(responseTopic)`)
  // uses it, so a Response Topic `$share/g/…` — a topic name nobody may ever publish on — is now
  // accepted where it was refused (0x87) before this change. No escalation (every responder's
  // publish there is refused) but the requester's mistake is no longer caught up front.
  test('a Response Topic on `$share/…` is refused like any topic nobody may publish on (0x87)', async () => {
    const requester = await client(orgA, 'resp', { protocolVersion: 5 });
    expect(await pubackCode(requester, 'resp/req', 'x', { qos: 1, properties: { responseTopic: '$SYS/reply' } })).toBe(0x87);
    expect(await pubackCode(requester, 'resp/req', 'x', { qos: 1, properties: { responseTopic: 'resp/reply' } })).toBe(0);
    expect(await pubackCode(requester, 'resp/req', 'x', { qos: 1, properties: { responseTopic: '$share/g/resp/reply' } })).toBe(0x87);
  });
});

// ---- Rights and session ends ---------------------------------------------------------------------------

describe('a member whose session ends', () => {
  test('a revoked member takes no more turns: after its session ends the other member takes every message', async () => {
    const id = uid('revoked');
    const token = await tb.mint(orgA, id);
    const revoked = await tb.connect(tb.urls.mqtt, token, { clientId: id, protocolVersion: 5 });
    const stays = await client(orgA, 'revoke-stays');
    for (const m of [revoked, stays]) await m.subscribeAsync('$share/rv/rv/#', { qos: 1 });
    const boxR = inbox(revoked);
    const boxS = inbox(stays);
    await tb.services.tokens.revoke(orgA, token.tokenId);
    await whenClosed(revoked);
    const producer = await client(orgA, 'revoke-p');
    for (let i = 0; i < 6; i++) await producer.publishAsync('rv/x', `rv-${i}`, { qos: 1 });
    await boxS.waitFor(onTopic('rv/x', 'rv-5'));
    expect(payloads(boxS, 'rv-')).toEqual(['rv-0', 'rv-1', 'rv-2', 'rv-3', 'rv-4', 'rv-5']);
    expect(payloads(boxR, 'rv-')).toEqual([]);
  });
});

// ---- Persistent sessions -------------------------------------------------------------------------------

describe('persistent members', () => {
  test('an unacknowledged QoS 1 message is redelivered to the same member on reconnect, once, and never to another; gone after PUBACK', async () => {
    const id = uid('unacked');
    const token = await tb.mint(orgA, id);
    const other = await client(orgA, 'unacked-other');
    await other.subscribeAsync('$share/ua/ua/#', { qos: 1 });
    const otherBox = inbox(other);
    const raw = await rawSession(4, orgA, id, false, token);
    raw.send(rawSubscribe(4, [['$share/ua/ua/#', 1]]));
    expect(await raw.waitFor((p) => p.cmd === 'suback')).not.toBeNull();
    const producer = await client(orgA, 'unacked-p');
    for (let i = 0; i < 4; i++) await producer.publishAsync('ua/x', `ua-${i}`, { qos: 1 });
    await eventually(() => raw.received.filter(isPublish).length + otherBox.messages.length >= 4);
    const mine = raw.received.filter(isPublish).map((p) => p.payload.toString());
    expect(mine.length).toBe(2); // its turns, not acknowledged
    raw.socket.destroy();
    await raw.closed;
    // Away: the other takes every turn.
    for (let i = 4; i < 6; i++) await producer.publishAsync('ua/x', `ua-${i}`, { qos: 1 });
    await otherBox.waitFor(onTopic('ua/x', 'ua-5'));
    const again = await rawSession(4, orgA, id, false, token);
    await eventually(() => again.received.filter(isPublish).length >= 2);
    await sleep(100);
    const redelivered = again.received.filter(isPublish);
    expect(redelivered.map((p) => p.payload.toString())).toEqual(mine);
    // (aedes redelivers a session's queue without the DUP flag, plain subscriptions alike: not this change's.)
    for (const p of redelivered) again.send(rawPuback(p.messageId!));
    await untilAsync(async () => (await queuedFor(orgA, id)) === 0);
    again.socket.destroy();
    await again.closed;
    const third = await rawSession(4, orgA, id, false, token);
    await sleep(150);
    expect(third.received.filter(isPublish)).toEqual([]);
    third.socket.destroy();
    expect(payloads(otherBox, 'ua-').filter((p) => mine.includes(p))).toEqual([]);
    expect(new Set([...payloads(otherBox, 'ua-'), ...mine]).size).toBe(6);
  });

  test('MQTT 5: once the Session Expiry Interval passes the member is out of the group, subscription and queue included', async () => {
    const id = uid('expiry');
    const token = await tb.mint(orgA, id);
    const opts = { clientId: id, protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 1 } };
    const first = await tb.connect(tb.urls.mqtt, token, opts);
    await first.subscribeAsync('$share/se/se/#', { qos: 1 });
    const other = await client(orgA, 'expiry-other');
    await other.subscribeAsync('$share/se/se/#', { qos: 1 });
    const otherBox = inbox(other);
    first.end(true);
    await whenClosed(first);
    await sleep(1600);
    expect(await persistence().subscriptionsByClient({ id: `${orgA}/${id}` })).toEqual([]);
    const { client: again, connack } = await connectWithConnack(tb.urls.mqtt, { ...token, ...opts, clean: false });
    expect(connack.sessionPresent).toBe(false);
    const box = inbox(again);
    const producer = await client(orgA, 'expiry-p');
    for (let i = 0; i < 4; i++) await producer.publishAsync('se/x', `se-${i}`, { qos: 1 });
    await otherBox.waitFor(onTopic('se/x', 'se-3'));
    expect(payloads(otherBox, 'se-')).toEqual(['se-0', 'se-1', 'se-2', 'se-3']);
    expect(box.messages).toEqual([]);
    again.end(true);
  });

  test('20 takeovers of a persistent member: only the newest connection is in the group, one dispatcher on the filter', async () => {
    const id = uid('takeover');
    const token = await tb.mint(orgA, id);
    const opts = { clientId: id, clean: false, reconnectPeriod: 0 };
    const base = listenersOn(`${orgA}/to/x`); // groups of earlier tests on `#` match it too
    const old: MqttClient[] = [await tb.connect(tb.urls.mqtt, token, opts)];
    await old[0]!.subscribeAsync('$share/to/to/#', { qos: 1 });
    const other = await client(orgA, 'takeover-other');
    await other.subscribeAsync('$share/to/to/#', { qos: 1 });
    const otherBox = inbox(other);
    const oldBoxes = [inbox(old[0]!)];
    for (let i = 0; i < 20; i++) {
      const next = await tb.connect(tb.urls.mqtt, token, opts);
      old.push(next);
      oldBoxes.push(inbox(next));
    }
    const newest = old.pop()!;
    const newestBox = oldBoxes.pop()!;
    await eventually(() => old.every((c) => !c.connected));
    await eventually(() => listenersOn(`${orgA}/to/x`) === base + 1);
    const producer = await client(orgA, 'takeover-p');
    for (let i = 0; i < 6; i++) await producer.publishAsync('to/x', `to-${i}`, { qos: 1 });
    await eventually(() => newestBox.messages.length + payloads(otherBox, 'to-').length >= 6);
    expect([newestBox.messages.length, payloads(otherBox, 'to-').length]).toEqual([3, 3]);
    expect(oldBoxes.flatMap((b) => b.messages)).toEqual([]);
    newest.end(true);
  });

  test('a persistent member that unsubscribed is not back in the group when it reconnects', async () => {
    const id = uid('unsub-persist');
    const token = await tb.mint(orgA, id);
    const opts = { clientId: id, clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 60 } };
    const first = await tb.connect(tb.urls.mqtt, token, opts);
    await first.subscribeAsync('$share/up/up/#', { qos: 1 });
    await first.unsubscribeAsync('$share/up/up/#');
    first.end(true);
    await whenClosed(first);
    const other = await client(orgA, 'unsub-persist-other');
    await other.subscribeAsync('$share/up/up/#', { qos: 1 });
    const otherBox = inbox(other);
    const again = await tb.connect(tb.urls.mqtt, token, opts);
    const box = inbox(again);
    const producer = await client(orgA, 'unsub-persist-p');
    for (let i = 0; i < 4; i++) await producer.publishAsync('up/x', `up-${i}`, { qos: 1 });
    await otherBox.waitFor(onTopic('up/x', 'up-3'));
    expect(payloads(otherBox, 'up-')).toEqual(['up-0', 'up-1', 'up-2', 'up-3']);
    expect(box.messages).toEqual([]);
    again.end(true);
  });

  test('QoS 2 through a group of persistent members: each message exactly once, nothing again after reconnect', async () => {
    const ids = [uid('q2'), uid('q2')];
    const tokens = await Promise.all(ids.map((id) => tb.mint(orgA, id)));
    const members = await Promise.all(ids.map((id, i) => tb.connect(tb.urls.mqtt, tokens[i]!, { clientId: id, clean: false, protocolVersion: i ? 5 : 4, properties: i ? { sessionExpiryInterval: 60 } : {} })));
    for (const m of members) await m.subscribeAsync('$share/q2/q2/#', { qos: 2 });
    const boxes = members.map(inbox);
    const producer = await client(orgA, 'q2-p', { protocolVersion: 5 });
    for (let i = 0; i < 10; i++) await producer.publishAsync('q2/x', `q2-${i}`, { qos: 2 });
    await eventually(() => boxes.reduce((n, b) => n + b.messages.length, 0) >= 10);
    await sleep(100);
    expect(boxes.map((b) => b.messages.length)).toEqual([5, 5]);
    expect(boxes.flatMap((b) => b.messages.map((m) => m.qos))).toEqual(Array(10).fill(2));
    expect(boxes.flatMap((b) => payloads(b)).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `q2-${i}`).sort());
    for (const m of members) m.end(true);
    await Promise.all(members.map((m) => whenClosed(m)));
    const again = await Promise.all(ids.map((id, i) => tb.connect(tb.urls.mqtt, tokens[i]!, { clientId: id, clean: false, protocolVersion: i ? 5 : 4, properties: i ? { sessionExpiryInterval: 60 } : {} })));
    const againBoxes = again.map(inbox);
    await sleep(200);
    expect(againBoxes.flatMap((b) => b.messages)).toEqual([]);
    for (const c of again) c.end(true);
  });

  /**
   * A persistent (clean=false) client holding `filters` at QoS 1 while another client fires `n` QoS 1
   * messages at once: what it received live, whether the broker closed it, and what it gets again
   * on reconnect.
   */
  async function burstAtPersistent(label: string, filters: string[], n = 6) {
    const id = uid(label);
    const token = await tb.mint(orgA, id);
    const x = await tb.connect(tb.urls.mqtt, token, { clientId: id, clean: false, reconnectPeriod: 0 });
    let closedByBroker = false;
    x.on('close', () => (closedByBroker = true));
    for (const f of filters) await x.subscribeAsync(f, { qos: 1 });
    const box = inbox(x);
    const producer = await client(orgA, `${label}-p`);
    const sent = Array.from({ length: n }, (_, i) => `${label}-${i}`);
    await Promise.all(sent.map((p, i) => producer.publishAsync(`${label}/${i}`, p, { qos: 1 })));
    // Until the burst is in, up to 3 s (a fixed 300 ms was too short once under the full suite's load),
    // then a little longer for any extra copy.
    await eventually(() => payloads(box).length >= n, 3000).catch(() => undefined);
    await sleep(100);
    const live = payloads(box);
    const wasClosed = closedByBroker;
    x.end(true);
    await whenClosed(x);
    const y = await tb.connect(tb.urls.mqtt, token, { clientId: id, clean: false });
    const box2 = inbox(y);
    await sleep(200);
    y.end(true);
    return { live: live.sort(), sent: sent.sort(), closedByBroker: wasClosed, redelivered: payloads(box2) };
  }

  // Control: one group, one persistent member, a burst: fine.
  test('a persistent member of one group takes a burst of QoS 1 messages, each once', async () => {
    const r = await burstAtPersistent('burst1', ['$share/b1/burst1/#']);
    expect(r).toEqual({ live: r.sent, sent: r.sent, closedByBroker: false, redelivered: [] });
  });

  // Was a defect (fixed in aedesFixes.ts: a clear without a message id removes that message's own
  // entry): a persistent member of two groups whose filters overlap, sole member of both
  // (the README: "a client in two matching groups gets one copy"). Each group's dispatcher
  // (sharedGroups.ts open(): `persistence.outgoingEnqueue(...).then(() => sub.func(packet, cb))`)
  // puts its own copy of the message in the member's outgoing queue, then aedes' dedupe drops the
  // second delivery (lib/client.js deliverQoS) and "clears" it with outgoingClearMessageId on a packet
  // without a message id, which removes whichever queued entry has no id yet — under a burst another
  // message's entry. That message's outgoingUpdate then throws "no such packet": the member's
  // connection is destroyed (clientError), one message is lost outright and another is delivered twice
  // after reconnect. Observed: live [], closed by the broker, redelivered [1, 2, 2] of 0..2.
  test('a persistent member of two overlapping groups takes a burst of QoS 1 messages, each once, and stays connected', async () => {
    const r = await burstAtPersistent('burst2', ['$share/b2a/burst2/#', '$share/b2b/burst2/+']);
    expect(r).toEqual({ live: r.sent, sent: r.sent, closedByBroker: false, redelivered: [] });
  });

  // Was a defect, same mechanism and fix: the README's "a client that is in a group and also holds an
  // overlapping subscription gets one copy" does not hold for a persistent session — aedes queues the
  // message for the plain subscription (enqueueOffline), the group queues a second copy.
  test('a persistent client in a group and holding an overlapping plain filter takes a burst, each once, and stays connected', async () => {
    const r = await burstAtPersistent('burst3', ['$share/b3/burst3/#', 'burst3/+']);
    expect(r).toEqual({ live: r.sent, sent: r.sent, closedByBroker: false, redelivered: [] });
  });

  // Was an aedes bug before shared subscriptions, same fix: two overlapping plain filters of a
  // persistent session.
  test('pre-existing: a persistent client holding two overlapping plain filters takes a burst, each once, and stays connected', async () => {
    const r = await burstAtPersistent('burst4', ['burst4/#', 'burst4/+']);
    expect(r).toEqual({ live: r.sent, sent: r.sent, closedByBroker: false, redelivered: [] });
  });
});

// ---- Group state -----------------------------------------------------------------------------------------

describe('group state does not leak', () => {
  test('300 subscribe/unsubscribe cycles and 40 connect/subscribe/drop cycles leave one dispatcher per live group', async () => {
    const topic = `${orgA}/churn/x`;
    const base = listenersOn(topic);
    const stays = await client(orgA, 'churn-stays');
    await stays.subscribeAsync('$share/keep/churn/#', { qos: 1 });
    const staysBox = inbox(stays);
    expect(listenersOn(topic)).toBe(base + 1);
    const churner = await client(orgA, 'churn', { protocolVersion: 5 });
    for (let i = 0; i < 150; i++) {
      await churner.subscribeAsync([`$share/c${i}/churn/#`, '$share/keep/churn/#'], { qos: 1 });
      await churner.unsubscribeAsync([`$share/c${i}/churn/#`, '$share/keep/churn/#']);
    }
    for (let i = 0; i < 40; i++) {
      const c = await client(orgA, 'churn-conn', { protocolVersion: i % 2 ? 5 : 4 });
      await c.subscribeAsync([`$share/d${i}/churn/#`, '$share/keep/churn/#'], { qos: 1 });
      c.stream.destroy();
      await whenClosed(c);
    }
    await eventually(() => listenersOn(topic) === base + 1);
    const producer = await client(orgA, 'churn-p');
    for (let i = 0; i < 4; i++) await producer.publishAsync('churn/x', `churn-${i}`, { qos: 1 });
    await staysBox.waitFor(onTopic('churn/x', 'churn-3'));
    expect(payloads(staysBox, 'churn-')).toEqual(['churn-0', 'churn-1', 'churn-2', 'churn-3']);
  });

  test('a SUBSCRIBE with a share and a malformed filter, or a share with No Local, ends the connection and leaves no member behind', async () => {
    const topic = `${orgA}/nlm/x`;
    const base = listenersOn(topic);
    const stays = await client(orgA, 'nlm-stays');
    await stays.subscribeAsync('$share/nlm/nlm/#', { qos: 1 });
    const box = inbox(stays);
    for (const [v, filters] of [
      [4, [['$share/nlm/nlm/#', 1], ['nlm/a+', 1]]],
      [5, [['$share/nlm/nlm/#', 1], ['$share/g+/nlm', 1]]],
      [5, [['$share/nlm/nlm/#', 1], ['$share/nl/nlm/#', 0x05]]],
      [5, [['$share/nl/nlm/#', 0x05], ['$share/nlm/nlm/#', 1]]],
    ] as [4 | 5, [string, number][]][]) {
      const raw = await rawSession(v, orgA, uid('nlm'));
      raw.send(rawSubscribe(v, filters));
      await closedWithin(raw, 2000);
      expect([filters, raw.isClosed()]).toEqual([filters, true]);
      const granted = (raw.received.find((p) => p.cmd === 'suback') as { granted?: number[] } | undefined)?.granted ?? [];
      expect(granted.filter((g) => g < 0x80)).toEqual([]);
    }
    await eventually(() => listenersOn(topic) === base + 1);
    const producer = await client(orgA, 'nlm-p');
    for (let i = 0; i < 4; i++) await producer.publishAsync('nlm/x', `nlm-${i}`, { qos: 1 });
    await box.waitFor(onTopic('nlm/x', 'nlm-3'));
    expect(payloads(box, 'nlm-')).toEqual(['nlm-0', 'nlm-1', 'nlm-2', 'nlm-3']);
  });
});

// ---- Per-member options -------------------------------------------------------------------------------

describe('options apply per member', () => {
  test('subscription identifier and retain-as-published are each member\'s own', async () => {
    const a = await client(orgA, 'opt-a', { protocolVersion: 5 });
    const b = await client(orgA, 'opt-b', { protocolVersion: 5 });
    await a.subscribeAsync('$share/opt/opt/#', { qos: 1, rap: true, properties: { subscriptionIdentifier: 7 } });
    await b.subscribeAsync('$share/opt/opt/#', { qos: 1, rap: false, properties: { subscriptionIdentifier: 9 } });
    const got: { who: string; retain: boolean; si: unknown }[] = [];
    for (const [who, c] of [['a', a], ['b', b]] as const) {
      c.on('message', (_t, _p, packet) => got.push({ who, retain: packet.retain, si: packet.properties?.subscriptionIdentifier }));
    }
    const producer = await client(orgA, 'opt-p');
    for (let i = 0; i < 4; i++) await producer.publishAsync('opt/x', `opt-${i}`, { qos: 1, retain: true });
    await eventually(() => got.length >= 4);
    await producer.publishAsync('opt/x', '', { qos: 1, retain: true });
    expect(got.filter((g) => g.who === 'a').map(({ retain, si }) => [retain, si])).toEqual([[true, 7], [true, 7]]);
    expect(got.filter((g) => g.who === 'b').map(({ retain, si }) => [retain, si])).toEqual([[false, 9], [false, 9]]);
  });

  test('re-subscribing the same share (another QoS) changes that member\'s QoS and keeps it in the group once', async () => {
    const a = await client(orgA, 'resub-a', { protocolVersion: 5 });
    const b = await client(orgA, 'resub-b');
    await a.subscribeAsync('$share/rs/rs/#', { qos: 0 });
    await b.subscribeAsync('$share/rs/rs/#', { qos: 1 });
    await a.subscribeAsync('$share/rs/rs/#', { qos: 2 });
    await a.subscribeAsync('$share/rs/rs/#', { qos: 1 });
    const boxA = inbox(a);
    const boxB = inbox(b);
    const producer = await client(orgA, 'resub-p');
    for (let i = 0; i < 6; i++) await producer.publishAsync('rs/x', `rs-${i}`, { qos: 2 });
    await eventually(() => boxA.messages.length + boxB.messages.length >= 6);
    await sleep(100);
    expect([boxA.messages.length, boxB.messages.length]).toEqual([3, 3]);
    expect(boxA.messages.map((m) => m.qos)).toEqual([1, 1, 1]);
  });

  // Was a defect (fixed: the group skips a member aedes already sent the message): a member that also holds an overlapping plain subscription at QoS 0, made
  // before the group existed, takes its group turns at QoS 0. aedes calls the plain subscription's
  // deliver0 first (same filter, inserted first), which passes aedes' per-client dedupe; the group
  // then hands the message to that member (sharedGroups.ts open(): `sub.func(packet, cb)`) and its
  // QoS 1 delivery is deduped away. The group's message was "delivered" at most once, unacknowledged:
  // the shared subscription's QoS 1 is silently lost for those turns. Observed: X gets 0, 2, 4 at
  // QoS 0 only, Y gets 1, 3, 5 at QoS 1. (Subscribing in the other order gives X its turns at QoS 1.)
  test('every message of a QoS 1 group reaches a member at QoS 1, even when a member also holds an older QoS 0 overlapping filter', async () => {
    const x = await client(orgA, 'q0-x');
    const y = await client(orgA, 'q0-y');
    await x.subscribeAsync('q0plain/#', { qos: 0 });
    for (const m of [x, y]) await m.subscribeAsync('$share/q0/q0plain/#', { qos: 1 });
    const boxes = [inbox(x), inbox(y)];
    const producer = await client(orgA, 'q0-p');
    const sent = Array.from({ length: 6 }, (_, i) => `q0-${i}`);
    for (const p of sent) await producer.publishAsync('q0plain/x', p, { qos: 1 });
    await eventually(() => boxes[0]!.messages.length >= 6 && boxes[1]!.messages.length >= 3);
    await sleep(100);
    const atQos1 = new Set(boxes.flatMap((b) => b.messages.filter((m) => m.qos === 1).map((m) => m.payload)));
    expect(sent.filter((p) => !atQos1.has(p))).toEqual([]);
  });

  test("a member's Maximum Packet Size: it is never sent a larger message, and no message goes to two members", async () => {
    const small = await client(orgA, 'mps-small', { protocolVersion: 5, properties: { maximumPacketSize: 256 } });
    const big = await client(orgA, 'mps-big', { protocolVersion: 5 });
    for (const m of [small, big]) await m.subscribeAsync('$share/mps/mps/#', { qos: 1 });
    const smallBox = inbox(small);
    const bigBox = inbox(big);
    const producer = await client(orgA, 'mps-p');
    for (let i = 0; i < 6; i++) await producer.publishAsync('mps/x', `mps-${i}-${'x'.repeat(1000)}`, { qos: 1 });
    await producer.publishAsync('mps/x', 'small-1', { qos: 1 });
    await producer.publishAsync('mps/x', 'small-2', { qos: 1 });
    await eventually(() => payloads(smallBox, 'small').length + payloads(bigBox, 'small').length >= 2);
    await sleep(100);
    expect(payloads(smallBox, 'mps-')).toEqual([]);
    expect(small.connected).toBe(true);
    const all = [...payloads(smallBox), ...payloads(bigBox)];
    expect(new Set(all).size).toBe(all.length);
  });
});

// ---- Malformed shared filters, raw -----------------------------------------------------------------------

describe('malformed shared filters over raw bytes', () => {
  const malformed: (string | Buffer)[] = [
    '$share/g+/x', '$share/+/x', '$share/#/x', '$share/#', '$share/g/', '$share/g', '$share//x', '$share/g/x/#/y', '$share/g/a+',
    Buffer.from('$share/g\u0000/x'), Buffer.from('$share/g/x\u0000'),
  ];
  test.each([4, 5] as const)('MQTT %i: each ends the connection without a granted SUBACK; a member alongside keeps its turns', async (v) => {
    const topic = `${orgA}/mal${v}/x`;
    const stays = await client(orgA, 'mal-stays');
    await stays.subscribeAsync(`$share/mal/mal${v}/#`, { qos: 1 });
    const box = inbox(stays);
    const base = listenersOn(topic);
    for (const f of malformed) {
      const raw = await rawSession(v, orgA, uid('mal'));
      raw.send(rawSubscribe(v, [[f, 1], [`$share/mal/mal${v}/#`, 1]]));
      await closedWithin(raw, 2000);
      expect([String(f), raw.isClosed()]).toEqual([String(f), true]);
      const suback = raw.received.find((p) => p.cmd === 'suback') as { granted?: number[] } | undefined;
      expect([String(f), (suback?.granted ?? []).filter((g) => g < 0x80)]).toEqual([String(f), []]);
    }
    await eventually(() => listenersOn(topic) === base);
    const producer = await client(orgA, 'mal-p');
    for (let i = 0; i < 3; i++) await producer.publishAsync(`mal${v}/x`, `mal-${i}`, { qos: 1 });
    await box.waitFor(onTopic(`mal${v}/x`, 'mal-2'));
    expect(payloads(box, 'mal-')).toEqual(['mal-0', 'mal-1', 'mal-2']);
  });
});

// ---- CONNACK ----------------------------------------------------------------------------------------------

describe('CONNACK', () => {
  test('MQTT 5 over WebSocket announces shared subscriptions; a bare aedes in the same process still says no and refuses `$share` with 0x9E', async () => {
    const id = uid('ws-announce');
    const { client: ws, connack } = await connectWithConnack(tb.urls.ws, { ...(await tb.mint(orgA, id)), clientId: id, protocolVersion: 5 });
    expect(connack.properties?.sharedSubscriptionAvailable).toBe(true);
    ws.end(true);

    const bare = await Aedes.createBroker();
    const server = net.createServer((socket) => bare.handle(socket));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const { client: c, connack: bareConnack } = await connectWithConnack(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5 });
      expect(bareConnack.properties?.sharedSubscriptionAvailable).toBe(false);
      expect(await subackCodes(c, ['$share/g/x'])).toEqual([0x9e]);
      c.end(true);
    } finally {
      await new Promise<void>((r) => bare.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

// ---- Slow consumer ----------------------------------------------------------------------------------------

describe('a member that never reads', () => {
  test('does not hold up the other member or the publisher (its own turns wait on it)', async () => {
    const id = uid('slow');
    const raw = await rawSession(4, orgA, id);
    raw.send(rawSubscribe(4, [['$share/slow/slow/#', 1]]));
    expect(await raw.waitFor((p) => p.cmd === 'suback')).not.toBeNull();
    raw.socket.pause(); // reads nothing more: the broker's writes to it back up
    const fast = await client(orgA, 'slow-fast');
    await fast.subscribeAsync('$share/slow/slow/#', { qos: 1 });
    const box = inbox(fast);
    const producer = await client(orgA, 'slow-p');
    const big = 'x'.repeat(256 * 1024);
    const started = Date.now();
    for (let i = 0; i < 30; i++) await producer.publishAsync('slow/x', `slow-${i}-${big}`, { qos: 1 });
    await eventually(() => payloads(box, 'slow-').length >= 15, 5000);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(payloads(box, 'slow-').map((p) => Number(p.split('-')[1]))).toEqual(Array.from({ length: 15 }, (_, i) => i * 2 + 1));
    raw.socket.destroy();
  });
});
