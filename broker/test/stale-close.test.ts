// A device drops its connection and reconnects with the same client id in the same instant (a
// DISCONNECT, or the socket's end, and the new CONNECT in one read). aedes finishes closing the old
// connection after the new one registered and, before aedesFixes.ts, unregistered the id: the live
// new connection left aedes' clients map, where a clean session's owner is read, and another user
// of the org got CONNACK 0 on that id (20 of 40 rounds at MQTT 5, helper-27's review), locking the
// owner out of their own id. Raw sockets, so both writes really land together.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { sleep, startTestBroker, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let org: string;
beforeAll(async () => {
  tb = await startTestBroker('stale-close');
  org = await tb.newOrg({ rules: { publish: ['#'], subscribe: ['chat/#'], presence: false, history: false } });
});
afterAll(async () => tb?.stop());

interface Raw {
  sock: net.Socket;
  /** The next packet of kind `cmd` (CONNACK, SUBACK). */
  next(cmd: string, ms?: number): Promise<Packet & { returnCode?: number; reasonCode?: number }>;
  closed(): boolean;
}

function raw(port: number, version: 4 | 5): Promise<Raw> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const parser = mqttPacket.parser({ protocolVersion: version });
    const packets: Packet[] = [];
    let closed = false;
    parser.on('packet', (p) => packets.push(p));
    sock.on('data', (d) => parser.parse(d));
    sock.on('close', () => { closed = true; });
    sock.on('error', () => {});
    sock.on('connect', () => resolve({
      sock,
      closed: () => closed,
      async next(cmd, ms = 3000) {
        for (const until = Date.now() + ms; Date.now() < until; await sleep(5)) {
          const i = packets.findIndex((p) => p.cmd === cmd);
          if (i >= 0) return packets.splice(i, 1)[0] as Packet & { returnCode?: number; reasonCode?: number };
          if (closed) throw new Error(`closed while waiting for ${cmd}`);
        }
        throw new Error(`no ${cmd}`);
      },
    }));
  });
}

const encode = (p: Record<string, unknown>, v: 4 | 5) => mqttPacket.generate(p as unknown as Packet, { protocolVersion: v });
const connect = async (clientId: string, userId: string, v: 4 | 5, clean = true) => {
  const t = await tb.mint(org, userId);
  return encode({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean, clientId, keepalive: 60, username: t.username, password: Buffer.from(t.password),
    ...(v === 5 ? { properties: { sessionExpiryInterval: clean ? 0 : 600 } } : {}),
  }, v);
};
const codeOf = (p: { returnCode?: number; reasonCode?: number }) => p.returnCode ?? p.reasonCode;

describe.each([4, 5] as const)('MQTT %i: the owner reconnects in the same instant as the old connection ends', (v) => {
  test('the new connection keeps the id: another user of the org is refused it (0x85 / 2), the owner is not locked out', async () => {
    const port = tb.broker.ports.mqtt!;
    const clients = (tb.broker.aedes as unknown as { clients: Record<string, unknown> }).clients;
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const id = `dev-${v}-${i}`;
      const old = await raw(port, v);
      old.sock.write(await connect(id, 'alice', v));
      await old.next('connack');
      old.sock.write(encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'chat/x', qos: 0 }] }, v));
      await old.next('suback');
      const fresh = await raw(port, v);
      const freshConnect = await connect(id, 'alice', v);
      // DISCONNECT or the socket's end, before or after the new CONNECT, in the same tick.
      const end = () => (i % 2 === 0 ? old.sock.write(encode({ cmd: 'disconnect' }, v)) : old.sock.destroy());
      if (i % 4 < 2) { end(); fresh.sock.write(freshConnect); } else { fresh.sock.write(freshConnect); end(); }
      expect(codeOf(await fresh.next('connack'))).toBe(0);
      await sleep(30); // the old connection's close has finished

      const mallory = await raw(port, v);
      mallory.sock.write(await connect(id, 'mallory', v, false));
      const refused = codeOf(await mallory.next('connack'));
      const again = await raw(port, v);
      again.sock.write(await connect(id, 'alice', v));
      const owner = codeOf(await again.next('connack'));
      outcomes.push(`${i}: registered=${clients[`${org}/${id}`] !== undefined} mallory=${refused} alice=${owner}`);
      for (const s of [old, fresh, mallory, again]) s.sock.destroy();
    }
    expect(outcomes.filter((o) => !/registered=true mallory=(133|2) alice=0$/.test(o))).toEqual([]);
  }, 60_000);
});

