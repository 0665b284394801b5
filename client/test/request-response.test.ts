// Request/response over MQTT 5 (the official SDK's `request()` in the agent preset): the request
// carries responseTopic, correlationData and user properties; the responder answers on the response
// topic with the same correlation data; the requester gets exactly its own reply, or a timeout.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import CloudSignal, { type CloudSignalOptions, type ReceivedMessage } from '@signalgate/client';
import { Inbox, eventually, mintLikeSeed002, newOrg, startStack, type Org, type Stack } from './support/fixtures.js';

let stack: Stack;
let org: Org;
const clients: CloudSignal[] = [];
const raw: MqttClient[] = [];
let n = 0;

beforeAll(async () => {
  stack = await startStack('sdk-request');
  org = await newOrg(stack, 'Agents Co');
  // Only the request/response topics: nothing here relies on the allow-all default rules.
  const topics = ['request/#', 'response/#'];
  await stack.services.rules.setDefault(org.orgId, { publish: topics, subscribe: topics, presence: false, history: false });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.destroy()));
  for (const r of raw) r.end(true);
  await stack.stop();
});

async function agent(opts: CloudSignalOptions = {}, host = stack.mqttUrl): Promise<CloudSignal> {
  const c = new CloudSignal({ tokenServiceUrl: stack.api.url, preset: 'agent', ...opts });
  clients.push(c);
  await c.connectWithToken({ host, organizationId: org.orgId, secretKey: org.secretKey, userEmail: `agent-${n++}@example.com` });
  return c;
}

/** A plain mqtt.js MQTT 5 client: any MQTT 5 responder must be able to answer our requests. */
async function rawV5(): Promise<MqttClient> {
  const t = await mintLikeSeed002(stack, org, `raw-${n++}@example.com`, { ttl_seconds: 600 });
  const c = await mqtt.connectAsync(stack.mqttUrl, { username: t.username, password: t.password, protocolVersion: 5, reconnectPeriod: 0 });
  raw.push(c);
  return c;
}

describe('request()', () => {
  test('round trip between two agents (TCP and WebSocket): the request carries responseTopic, correlationData and user properties; the reply comes back with them', async () => {
    const responder = await agent();
    const requester = await agent({}, stack.wsUrl);
    const seen: ReceivedMessage[] = [];
    responder.onMessage((_topic, message, received) => {
      seen.push(received);
      void responder.respond(received, { echo: message }, { userProperties: { handledBy: 'responder' } });
    });
    await responder.subscribe('request/echo');
    const mine = new Inbox();
    requester.onMessage(mine.push);

    const reply = await requester.request('request/echo', { q: 'ping' }, { messageType: 'ping', userProperties: { trace: 't-1' } });

    const req = seen[0]!.properties!;
    expect(req.responseTopic).toBe(`response/${requester.clientId}`);
    expect(Buffer.from(req.correlationData!).toString()).toBe(reply.correlationId);
    expect(req.payloadFormatIndicator).toBe(true);
    expect(req.messageExpiryInterval).toBeGreaterThan(290);
    expect(req.messageExpiryInterval).toBeLessThanOrEqual(300);
    expect(req.userProperties).toEqual({
      correlationId: reply.correlationId, timestamp: expect.stringMatching(/^\d{13}$/), senderId: requester.clientId, messageType: 'ping', trace: 't-1',
    });

    expect(reply.topic).toBe(`response/${requester.clientId}`);
    expect(reply.payload).toEqual({ echo: { q: 'ping' } });
    expect(Buffer.from(reply.properties.correlationData!).toString()).toBe(reply.correlationId);
    expect(reply.userProperties).toMatchObject({ correlationId: reply.correlationId, senderId: responder.clientId, handledBy: 'responder' });
    expect(reply.latencyMs).toBeGreaterThanOrEqual(0);
    // The reply settles the request; it is not also an ordinary message.
    expect(mine.items).toEqual([]);
  });

  test('each reply goes to its own request, by correlation data, whatever the order; a plain MQTT 5 client can answer', async () => {
    const responder = await rawV5();
    await responder.subscribeAsync('request/slow', { qos: 1 });
    const held: IPublishPacket[] = [];
    responder.on('message', (_topic, _payload, packet) => {
      held.push(packet);
      if (held.length < 3) return;
      // Answer the three requests in reverse order, as any MQTT 5 responder would: same correlation data, on the response topic.
      for (const p of held.reverse()) {
        const asked = JSON.parse(p.payload.toString()) as { n: number };
        responder.publish(p.properties!.responseTopic!, JSON.stringify({ answer: asked.n * 10 }), { qos: 1, properties: { correlationData: p.properties!.correlationData! } });
      }
    });
    const requester = await agent();
    const replies = await Promise.all([1, 2, 3].map((k) => requester.request('request/slow', { n: k })));
    expect(replies.map((r) => r.payload)).toEqual([{ answer: 10 }, { answer: 20 }, { answer: 30 }]);
    expect(new Set(replies.map((r) => r.correlationId)).size).toBe(3);
  });

  test('without a reply the request rejects after its timeout', async () => {
    const requester = await agent();
    const started = Date.now();
    await expect(requester.request('request/nobody-listens', { q: 1 }, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'request_timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test('a late reply after the timeout is an ordinary message on the response topic, nothing more', async () => {
    const responder = await rawV5();
    await responder.subscribeAsync('request/late', { qos: 1 });
    const requester = await agent();
    const inbox = new Inbox();
    requester.onMessage(inbox.push);
    let asked: IPublishPacket | undefined;
    responder.on('message', (_t, _p, packet) => {
      asked = packet;
    });
    await expect(requester.request('request/late', 'hello?', { timeoutMs: 200 })).rejects.toMatchObject({ code: 'request_timeout' });
    await eventually(() => asked !== undefined, 'the request reached the responder');
    await responder.publishAsync(asked!.properties!.responseTopic!, 'too late', { qos: 1, properties: { correlationData: asked!.properties!.correlationData! } });
    await inbox.waitFor(`response/${requester.clientId}`);
    expect(inbox.on(`response/${requester.clientId}`)).toEqual(['too late']);
  });

  test('needs MQTT 5: over 3.1.1 (mobile preset) it rejects at once', async () => {
    const phone = await agent({ preset: 'mobile' });
    await expect(phone.request('request/echo', { q: 1 })).rejects.toMatchObject({ code: 'mqtt5_required' });
  });

  test('respond() refuses a message that is not a request (no response topic)', async () => {
    const a = await agent();
    const got: ReceivedMessage[] = [];
    a.onMessage((_t, _m, received) => got.push(received));
    await a.subscribe('request/plain');
    await a.transmit('request/plain', { just: 'a message' });
    await eventually(() => got.length === 1, 'the plain message');
    await expect(a.respond(got[0]!, 'hi')).rejects.toMatchObject({ code: 'not_a_request' });
  });
});
