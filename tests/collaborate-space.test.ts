// A collaborate-style space (CloudSignal's collaborate package): four members on `$spaces/s1/#`
// over MQTT 5 WebSocket, each sending cursor positions about 33 times a second, with a Last Will
// on `$spaces/s1/presence`. Every cursor message reaches every other member, in order per sender,
// and a member that drops is announced to the others by its will.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { connectClient, startStack, type Stack } from './support/stack.js';

let stack: Stack;
let orgId: string;
const members: MqttClient[] = [];

beforeAll(async () => {
  stack = await startStack('collaborate');
  ({ org: { id: orgId } } = await stack.services.orgs.create('Collaborate Co')); // default rules grant $spaces/#
});
afterAll(async () => {
  for (const c of members) c.end(true);
  await stack.stop();
});

test('four members exchange 33 Hz cursors on $spaces/s1/#; a dropped member’s will announces it', async () => {
  const names = ['ann', 'ben', 'cat', 'dan'];
  const received = new Map<string, { from: string; seq: number }[]>();
  for (const name of names) {
    const t = await stack.services.tokens.mint({ orgId, userId: name });
    const c = await connectClient(stack.wsUrl, {
      protocolVersion: 5, clean: false, clientId: `cs_${name}`, username: t.username, password: t.password,
      properties: { sessionExpiryInterval: 60 },
      will: { topic: '$spaces/s1/presence', payload: Buffer.from(JSON.stringify({ user: name, status: 'left' })), qos: 1, retain: false },
    });
    await c.subscribeAsync('$spaces/s1/#', { qos: 0 });
    received.set(name, []);
    c.on('message', (topic, payload) => {
      if (topic !== '$spaces/s1/cursors') return;
      const m = JSON.parse(payload.toString()) as { from: string; seq: number };
      if (m.from !== name) received.get(name)!.push(m);
    });
    members.push(c);
  }

  const PER_MEMBER = 66; // two seconds at 33 Hz
  await Promise.all(members.map((c, i) => new Promise<void>((resolve) => {
    let seq = 0;
    const timer = setInterval(() => {
      c.publish('$spaces/s1/cursors', JSON.stringify({ from: names[i], seq: seq++, x: seq, y: seq }), { qos: 0 });
      if (seq === PER_MEMBER) {
        clearInterval(timer);
        resolve();
      }
    }, 30);
  })));
  // Settled when every member holds every other member's messages (or give up and compare).
  const complete = () => [...received.values()].every((list) => list.length === PER_MEMBER * (names.length - 1));
  for (let i = 0; i < 100 && !complete(); i++) await new Promise((r) => setTimeout(r, 20));
  for (const name of names) {
    const list = received.get(name)!;
    for (const other of names.filter((n) => n !== name)) {
      expect([name, other, list.filter((m) => m.from === other).map((m) => m.seq)]).toEqual([name, other, Array.from({ length: PER_MEMBER }, (_, k) => k)]);
    }
  }

  const will = new Promise<string>((resolve) => members[0]!.on('message', (topic, p) => { if (topic === '$spaces/s1/presence') resolve(p.toString()); }));
  (members[3]!.stream as unknown as { destroy(): void }).destroy();
  expect(JSON.parse(await will)).toEqual({ user: 'dan', status: 'left' });
}, 30_000);
