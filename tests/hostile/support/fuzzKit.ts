// What both MQTT fuzz suites (3.1.1 and 5) build their cases and checks from: bytes made by hand
// (mqtt-packet refuses to generate most of what they send), the honest bystander clients that must
// come through unharmed, and the process footprint after a GC.
import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { connectClient, type Stack } from '../../support/stack.js';

/** An MQTT Variable Byte Integer (remaining length); past 268435455 it takes a 5th byte, which is malformed [MQTT-1.5.5]. */
export function varInt(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

export const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

/** A length-prefixed string (the length wraps at 16 bits, so an overlong one lies about its size). */
export const str = (s: Buffer | string) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  return Buffer.concat([u16(b.length & 0xffff), b]);
};

/** A packet built by hand from its first byte and its body. */
export const rawPacket = (header: number, body: Buffer) => Buffer.concat([Buffer.from([header]), varInt(body.length), body]);

/** An honest client of another org that keeps exchanging QoS 1 messages on `alive/#` while the fuzz runs. */
export interface Bystander {
  client: MqttClient;
  sent: number;
  received: Set<string>;
  closes: number;
  timer?: NodeJS.Timeout;
}

export async function bystander(stack: Stack, url: string, orgId: string, name: string, protocolVersion: 4 | 5): Promise<Bystander> {
  const t = await stack.services.tokens.mint({ orgId, userId: name });
  const client = await connectClient(url, { username: t.username, password: t.password, clientId: name, protocolVersion });
  const b: Bystander = { client, sent: 0, received: new Set(), closes: 0 };
  client.on('close', () => b.closes++);
  client.on('message', (_topic, payload) => b.received.add(payload.toString()));
  await client.subscribeAsync('alive/#', { qos: 1 });
  return b;
}

/** Resident set size and open file descriptors of this process (the broker runs in it), after a GC. */
export function footprint(): { rss: number; fds: number } {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
  return { rss: process.memoryUsage().rss, fds: fs.readdirSync('/proc/self/fd').length };
}

/** Byte-level mutations of valid packets: bit flips, overwrites, truncation, insertion, deletion, a lying remaining length. */
export function mutationsOf(valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(valid, fc.array(fc.tuple(fc.constantFrom('flip', 'set', 'truncate', 'insert', 'delete', 'length'), fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
    .map(([packet, ops]) => {
      let b = Buffer.from(packet);
      for (const [op, at, value] of ops) {
        const i = b.length === 0 ? 0 : at % b.length;
        if (op === 'flip' && b.length) b[i] = b[i]! ^ (1 << (value % 8));
        else if (op === 'set' && b.length) b[i] = value;
        else if (op === 'truncate') b = b.subarray(0, i);
        else if (op === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([value]), b.subarray(i)]);
        else if (op === 'delete' && b.length) b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
        else if (op === 'length' && b.length > 1) b[1] = value; // a lying remaining length
      }
      return b;
    });
}
