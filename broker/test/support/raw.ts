// A raw MQTT connection over TCP for what mqtt.js will not send (hostile aliases, withheld PUBRELs,
// duplicate packets in one write): packets out are built with mqtt-packet, packets in are parsed and
// kept in order.
import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

export interface RawClient {
  /** Every packet received so far, in order. */
  received: Packet[];
  send(...packets: Packet[]): void;
  /** Several packets in one TCP write (the broker parses them from one read). */
  sendTogether(...packets: Packet[]): void;
  /** Resolves with the first received packet (already received or later) that matches. */
  waitFor(match: (p: Packet) => boolean, timeoutMs?: number): Promise<Packet>;
  closed: Promise<void>;
  isClosed(): boolean;
  end(): void;
}

/** `localAddress`: another loopback address to connect from (127.0.0.x), for per-address limits. */
export function rawClient(port: number, protocolVersion: 4 | 5, localAddress?: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    const parser = mqttPacket.parser({ protocolVersion });
    const received: Packet[] = [];
    const waiters: { match: (p: Packet) => boolean; resolve: (p: Packet) => void }[] = [];
    let isClosed = false;
    const closed = new Promise<void>((r) => socket.once('close', () => {
      isClosed = true;
      r();
    }));
    parser.on('packet', (p) => {
      received.push(p);
      for (const w of [...waiters]) if (w.match(p)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(p);
      }
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({
      received,
      send: (...packets) => { for (const p of packets) socket.write(mqttPacket.generate(p, { protocolVersion })); },
      sendTogether: (...packets) => socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion })))),
      waitFor(match, timeoutMs = 3000) {
        const seen = received.find(match);
        if (seen) return Promise.resolve(seen);
        return new Promise((res, rej) => {
          const timer = setTimeout(() => rej(new Error(`no matching packet within ${timeoutMs} ms; got ${JSON.stringify(received.map((p) => p.cmd))}`)), timeoutMs);
          waiters.push({ match, resolve: (p) => { clearTimeout(timer); res(p); } });
        });
      },
      closed,
      isClosed: () => isClosed,
      end: () => socket.destroy(),
    }));
    socket.once('error', reject);
  });
}

/** A raw client that has sent CONNECT with these credentials and received CONNACK 0. */
export async function rawSession(port: number, protocolVersion: 4 | 5, creds: { username: string; password: string }, extra: { clientId?: string; clean?: boolean } = {}): Promise<RawClient> {
  const c = await rawClient(port, protocolVersion);
  c.send({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion, clean: extra.clean ?? true, clientId: extra.clientId ?? `raw-${Math.random().toString(36).slice(2)}`,
    keepalive: 60, username: creds.username, password: Buffer.from(creds.password),
  });
  const connack = await c.waitFor((p) => p.cmd === 'connack') as { reasonCode?: number; returnCode?: number };
  const code = connack.reasonCode ?? connack.returnCode;
  if (code !== 0) throw new Error(`CONNACK ${code}`);
  return c;
}

/**
 * Writes `chunks` on a raw TCP socket and resolves with everything the broker sent once it closes
 * the socket; rejects if it is still open after `timeoutMs`.
 */
export function rawExchange(port: number, chunks: Buffer[], timeoutMs = 3000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('broker kept the socket open'));
    }, timeoutMs);
    socket.on('data', (d) => received.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(received));
    });
    socket.on('connect', () => {
      for (const b of chunks) socket.write(b);
    });
  });
}
