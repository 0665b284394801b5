// PUBLISH and SUBSCRIBE under MQTT 5: refusals carry their reason codes (3.1.1 keeps its plain
// acknowledgement and drop), properties reach the subscriber unchanged, request/response works
// only where the rules allow both directions, topic aliases and packet sizes stay in bounds, and
// a message is never delivered above the QoS its subscription was granted.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { PUBLISH_DENIALS } from '@signalgate/shared';
import { inbox, onTopic, serverDisconnect, sleep, startTestBroker, subackCodes, type TestBroker } from './support/harness.js';
import { rawSession } from './support/raw.js';

let tb: TestBroker;
let orgId: string;
/** An org whose rules let requests out but no reply back. */
let noReplyOrg: string;

const v5 = { protocolVersion: 5 as const };

beforeAll(async () => {
  tb = await startTestBroker('mqtt5-messages', { SIGNALGATE_MAX_PACKET_BYTES: '8192', SIGNALGATE_TOPIC_ALIAS_MAXIMUM: '3' });
  orgId = await tb.newOrg({
    rules: {
      publish: ['chat/#', 'agents/+/requests', 'response/#', 'big/#', 'qos/#'],
      subscribe: ['chat/#', 'agents/${user_id}/requests', 'response/${client_id}', 'big/#', 'qos/#'],
      presence: false,
      history: false,
    },
  });
  noReplyOrg = await tb.newOrg({
    rules: { publish: ['agents/+/requests'], subscribe: ['agents/${user_id}/requests', 'response/${client_id}'], presence: false, history: false },
  });
});
afterAll(async () => tb?.stop());

/** The reason code of the PUBACK/PUBREC a publish got (mqtt.js rejects at >= 0x80). */
async function ackCode(c: MqttClient, topic: string, qos: 1 | 2, opts: object = {}): Promise<number> {
  try {
    const packet = await c.publishAsync(topic, 'x', { qos, ...opts });
    return (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}

/** Every message a client receives, with its MQTT 5 properties. */
function packets(c: MqttClient): IPublishPacket[] {
  const all: IPublishPacket[] = [];
  c.on('message', (_t, _p, packet) => all.push(packet));
  return all;
}

describe('refused PUBLISH', () => {
  test('MQTT 5: PUBACK and PUBREC carry 0x87 for a topic outside the rules; the connection stays', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'denied-5'), v5);
    expect(await ackCode(c, 'admin/secrets', 1)).toBe(0x87);
    expect(await ackCode(c, 'admin/secrets', 2)).toBe(0x87);
    expect(await ackCode(c, 'chat/ok', 1)).toBe(0);
    expect(c.connected).toBe(true);
  });

  test('MQTT 5: a payload over the org limit gets 0x97 (quota exceeded)', async () => {
    const org = await tb.newOrg({ limits: { maxPayloadBytes: 10 }, rules: { publish: ['#'], subscribe: ['#'], presence: false, history: false } });
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'big-payload'), v5);
    const code = await (async () => {
      try {
        await c.publishAsync('t', 'x'.repeat(11), { qos: 1 });
        return 0;
      } catch (err) {
        return (err as { code: number }).code;
      }
    })();
    expect(code).toBe(PUBLISH_DENIALS.payload_size);
  });

  test('3.1.1 keeps its behaviour: a plain PUBACK/PUBCOMP, the message dropped, nothing delivered', async () => {
    const sender = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'denied-4'));
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'watcher-4'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('chat/#');
    await sender.publishAsync('admin/x', 'no', { qos: 1 });
    await sender.publishAsync('admin/x', 'no', { qos: 2 });
    await sender.publishAsync('chat/after', 'yes', { qos: 1 });
    await box.waitFor(onTopic('chat/after', 'yes'));
    expect(box.messages.map((m) => m.topic)).toEqual(['chat/after']);
    expect(sender.connected).toBe(true);
  });

  test('a refused QoS 2 publish leaves nothing awaiting PUBREL (a PUBREL for it is still answered)', async () => {
    const raw = await rawSession(tb.broker.ports.mqtt!, 5, await tb.mint(orgId, 'raw-denied-qos2'));
    raw.send({ cmd: 'publish', topic: 'admin/x', payload: Buffer.from('x'), qos: 2, messageId: 7, retain: false, dup: false });
    expect(await raw.waitFor((p) => p.cmd === 'pubrec')).toMatchObject({ messageId: 7, reasonCode: 0x87 });
    raw.send({ cmd: 'pubrel', messageId: 7 });
    expect(await raw.waitFor((p) => p.cmd === 'pubcomp')).toMatchObject({ messageId: 7 });
    raw.end();
  });
});

describe('SUBSCRIBE', () => {
  test('MQTT 5: 0x87 for each filter outside the rules, granted QoS for the others', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'sub-5'), v5);
    expect(await subackCodes(c, [['chat/#', 1], ['admin/#', 1], ['#', 0], ['chat/a', 2]])).toEqual([1, 0x87, 0x87, 2]);
  });

  test('3.1.1: 0x80 as before', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'sub-4'));
    expect(await subackCodes(c, [['chat/#', 1], ['admin/#', 1]])).toEqual([1, 0x80]);
  });
});

describe('PUBLISH properties', () => {
  test('responseTopic, correlationData, userProperties, contentType, payloadFormatIndicator and messageExpiryInterval reach the subscriber unchanged', async () => {
    const sender = await tb.connect(tb.urls.ws, await tb.mint(orgId, 'props-sender'), { ...v5, clientId: 'props-sender' });
    const receiver = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'props-receiver'), v5);
    const got = packets(receiver);
    await receiver.subscribeAsync('chat/props', { qos: 1 });
    const properties = {
      responseTopic: 'response/props-sender', correlationData: Buffer.from([1, 2, 3, 250]),
      userProperties: { correlationId: 'c-1', senderId: 'props-sender', tags: ['a', 'b'] },
      contentType: 'application/json', payloadFormatIndicator: true, messageExpiryInterval: 300,
    };
    await sender.publishAsync('chat/props', '{"q":1}', { qos: 1, properties });
    await (async () => { while (got.length === 0) await sleep(10); })();
    const p = got[0]!.properties!;
    expect(p.responseTopic).toBe('response/props-sender');
    expect(Buffer.from(p.correlationData!)).toEqual(properties.correlationData);
    expect(p.userProperties).toEqual(properties.userProperties);
    expect(p.contentType).toBe('application/json');
    expect(p.payloadFormatIndicator).toBe(true);
    expect(p.messageExpiryInterval).toBeGreaterThan(295);
    expect(p.messageExpiryInterval).toBeLessThanOrEqual(300);
  });

  test('a retained message keeps its properties, and is not delivered once its expiry has passed', async () => {
    const sender = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'retain-sender'), v5);
    await sender.publishAsync('chat/retained/kept', 'kept', { qos: 1, retain: true, properties: { contentType: 'text/plain', messageExpiryInterval: 60 } });
    await sender.publishAsync('chat/retained/brief', 'brief', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await sleep(1100);
    const late = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'retain-late'), v5);
    const got = packets(late);
    await late.subscribeAsync('chat/retained/#', { qos: 1 });
    await sleep(200);
    expect(got.map((p) => p.topic)).toEqual(['chat/retained/kept']);
    expect(got[0]!.properties?.contentType).toBe('text/plain');
    expect(got[0]!.properties?.messageExpiryInterval).toBeLessThanOrEqual(60);
  });
});

describe("request/response (the official SDK's agent preset)", () => {
  async function agentPair(org: string, requesterId: string) {
    const requester = await tb.connect(tb.urls.ws, await tb.mint(org, `requester-${requesterId}`), { ...v5, clientId: requesterId, clean: false });
    const responder = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'bot'), { ...v5, clientId: `bot-${requesterId}` });
    await requester.subscribeAsync(`response/${requesterId}`, { qos: 1 });
    await responder.subscribeAsync('agents/bot/requests', { qos: 1 });
    return { requester, responder };
  }

  test('a request round-trips with its correlation data and user properties', async () => {
    const { requester, responder } = await agentPair(orgId, 'cs_req00001');
    responder.on('message', (_topic, payload, packet) => {
      const p = packet.properties!;
      void responder.publishAsync(p.responseTopic!, JSON.stringify({ answer: `re: ${payload.toString()}` }), {
        qos: 1, properties: { correlationData: p.correlationData, userProperties: { messageType: 'response', correlationId: String(p.userProperties?.correlationId) } },
      });
    });
    const replies = packets(requester);
    await requester.publishAsync('agents/bot/requests', 'ping', {
      qos: 1,
      properties: {
        responseTopic: 'response/cs_req00001', correlationData: Buffer.from('corr-42'), payloadFormatIndicator: true, messageExpiryInterval: 300,
        userProperties: { correlationId: 'corr-42', timestamp: String(Date.now()), senderId: 'cs_req00001', messageType: 'request' },
      },
    });
    await (async () => { while (replies.length === 0) await sleep(10); })();
    expect(JSON.parse(replies[0]!.payload.toString())).toEqual({ answer: 're: ping' });
    expect(Buffer.from(replies[0]!.properties!.correlationData!).toString()).toBe('corr-42');
    expect(replies[0]!.properties!.userProperties).toEqual({ messageType: 'response', correlationId: 'corr-42' });
  });

  test('a response topic the requester may not subscribe to is refused (0x87), so no responder is made to write there', async () => {
    const { requester, responder } = await agentPair(orgId, 'cs_req00002');
    const seen = packets(responder);
    expect(await ackCode(requester, 'agents/bot/requests', 1, { properties: { responseTopic: 'agents/bot/requests', correlationData: Buffer.from('x') } })).toBe(PUBLISH_DENIALS.response_topic);
    expect(await ackCode(requester, 'agents/bot/requests', 1, { properties: { responseTopic: 'response/cs_someone_else' } })).toBe(0x87);
    await sleep(100);
    expect(seen).toEqual([]);
  });

  test('rules that forbid the reply: the responder gets 0x87, the requester nothing', async () => {
    const { requester, responder } = await agentPair(noReplyOrg, 'cs_req00003');
    const replies = packets(requester);
    const request = new Promise<IPublishPacket>((resolve) => responder.once('message', (_t, _p, packet) => resolve(packet)));
    await requester.publishAsync('agents/bot/requests', 'ping', { qos: 1, properties: { responseTopic: 'response/cs_req00003', correlationData: Buffer.from('c') } });
    const p = (await request).properties!;
    expect(await ackCode(responder, p.responseTopic!, 1, { properties: { correlationData: p.correlationData } })).toBe(0x87);
    await sleep(100);
    expect(replies).toEqual([]);
  });
});

describe('topic aliases', () => {
  test('an alias registered with a topic is resolved on later publishes, within the org', async () => {
    const sender = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'alias-sender'), v5);
    const receiver = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'alias-receiver'), v5);
    const box = inbox(receiver);
    await receiver.subscribeAsync('chat/alias', { qos: 1 });
    await sender.publishAsync('chat/alias', 'first', { qos: 1, properties: { topicAlias: 1 } });
    await sender.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 1 } });
    await box.waitFor(onTopic('chat/alias', 'second'));
    expect(box.messages.map((m) => m.payload)).toEqual(['first', 'second']);
  });

  test.each([0, 4])('alias %i (0, or past the announced maximum of 3) ends the connection with DISCONNECT 0x94', async (alias) => {
    const raw = await rawSession(tb.broker.ports.mqtt!, 5, await tb.mint(orgId, `alias-bad-${alias}`));
    raw.send({ cmd: 'publish', topic: 'chat/a', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: alias } });
    expect(await raw.waitFor((p) => p.cmd === 'disconnect')).toMatchObject({ reasonCode: 0x94 });
    await raw.closed;
  });

  test('an alias never registered ends the connection (0x94)', async () => {
    const raw = await rawSession(tb.broker.ports.mqtt!, 5, await tb.mint(orgId, 'alias-unknown'));
    raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 2 } });
    expect(await raw.waitFor((p) => p.cmd === 'disconnect')).toMatchObject({ reasonCode: 0x94 });
  });
});

describe('packet sizes', () => {
  test('a packet over the maximum ends an MQTT 5 session with DISCONNECT 0x95', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'oversize-5'), v5);
    const gone = serverDisconnect(c);
    c.publish('big/x', Buffer.alloc(9000), { qos: 0 });
    expect((await gone).reasonCode).toBe(0x95);
  });

  test("a message over the subscriber's own Maximum Packet Size is not sent to it; smaller ones are", async () => {
    const sender = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'size-sender'), v5);
    const small = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'size-small'), { ...v5, properties: { maximumPacketSize: 200 } });
    const box = inbox(small);
    await small.subscribeAsync('big/#', { qos: 1 });
    await sender.publishAsync('big/one', Buffer.alloc(1000), { qos: 1 });
    await sender.publishAsync('big/two', 'fits', { qos: 1 });
    await box.waitFor(onTopic('big/two', 'fits'));
    expect(box.messages.map((m) => m.topic)).toEqual(['big/two']);
    expect(small.connected).toBe(true);
  });
});

describe('delivered QoS never exceeds the granted QoS [MQTT-3.8.4-6]', () => {
  test.each([4, 5] as const)('a wildcard subscription granted QoS 1 receives a QoS 2 message at QoS 1 (protocol level %i)', async (level) => {
    const sender = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, `qos-sender-${level}`), { protocolVersion: level });
    const sub = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, `qos-sub-${level}`), { protocolVersion: level });
    const box = inbox(sub);
    await sub.subscribeAsync(`qos/${level}/+`, { qos: 1 });
    await sub.subscribeAsync(`qos/${level}/zero/#`, { qos: 0 });
    await sender.publishAsync(`qos/${level}/a`, 'two', { qos: 2 });
    await sender.publishAsync(`qos/${level}/zero/b`, 'zero', { qos: 2 });
    expect((await box.waitFor(onTopic(`qos/${level}/a`))).qos).toBe(1);
    expect((await box.waitFor(onTopic(`qos/${level}/zero/b`))).qos).toBe(0);
  });
});
