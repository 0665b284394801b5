// The load generator: raw MQTT 3.1.1 over `net` sockets, packets encoded and decoded with
// mqtt-packet (the codec mqtt.js and aedes use). Chosen over mqtt.js clients because a client
// object there costs tens of kB and a stream stack per connection, which would make "10k
// connections from one process" measure the load generator; here a connection is one socket,
// one parser and a few closures, and hot packets are pre-encoded buffers written in batches.
import net from 'node:net';
import mqttPacket from 'mqtt-packet';

const { generate, parser: newParser } = mqttPacket;

export function connectPacket({ clientId, username, password, keepalive = 300 }) {
  return generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive, username, password: Buffer.from(password) });
}

export function subscribePacket(topic, qos, messageId = 1) {
  return generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos }] });
}

const DISCONNECT = generate({ cmd: 'disconnect' });

/**
 * Opens one connection and resolves once CONNACK 0 arrived (rejects on another code, an error or
 * a close before it). `connackMs` is CONNECT written → CONNACK parsed. Packets after CONNACK go
 * to `onPacket(packet, client)`.
 */
export function openClient({ port, connect, onPacket = null, host = '127.0.0.1' }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    const parser = newParser({ protocolVersion: 4 });
    const client = { socket, connackMs: NaN, closedAt: 0, onClose: null, onPacket };
    let t0 = 0;
    let connected = false;
    socket.setNoDelay(true);
    parser.on('packet', (p) => {
      if (connected) return client.onPacket?.(p, client);
      if (p.cmd !== 'connack') return void socket.destroy(new Error(`expected CONNACK, got ${p.cmd}`));
      client.connackMs = performance.now() - t0;
      if (p.returnCode !== 0) {
        socket.destroy();
        return reject(Object.assign(new Error(`CONNACK ${p.returnCode}`), { returnCode: p.returnCode }));
      }
      connected = true;
      resolve(client);
    });
    parser.on('error', (err) => socket.destroy(err));
    // Corked while a chunk is parsed: the PUBACKs it causes leave in one write.
    socket.on('data', (chunk) => {
      socket.cork();
      parser.parse(chunk);
      socket.uncork();
    });
    socket.on('connect', () => {
      t0 = performance.now();
      socket.write(connect);
    });
    socket.on('error', (err) => {
      if (!connected) reject(err);
    });
    socket.on('close', () => {
      client.closedAt = performance.now();
      if (!connected) reject(new Error('connection closed before CONNACK'));
      client.onClose?.(client);
    });
  });
}

/**
 * Opens `connects.length` connections with at most `concurrency` CONNECTs in flight. Resolves with
 * the clients, the CONNECT→CONNACK latencies (ms), failures and the wall time of the whole batch.
 */
export async function connectMany({ port, connects, concurrency, onPacket = null, deadlineMs = 120_000 }) {
  const clients = [];
  const latencies = [];
  const failures = [];
  let next = 0;
  const t0 = performance.now();
  const deadline = Date.now() + deadlineMs;
  async function worker() {
    while (next < connects.length && Date.now() < deadline) {
      const i = next++;
      try {
        const c = await openClient({ port, connect: connects[i], onPacket });
        c.index = i; // clients finish out of order; this is the position of its CONNECT in `connects`
        clients.push(c);
        latencies.push(c.connackMs);
      } catch (err) {
        failures.push(err.message);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, connects.length) }, worker));
  return { clients, latencies, failures, elapsedMs: performance.now() - t0 };
}

/** Sends DISCONNECT and ends every socket; resolves when all are closed (or after `ms`). */
export async function closeAll(clients, ms = 10_000) {
  const open = clients.filter((c) => !c.socket.destroyed);
  await Promise.race([
    Promise.all(open.map((c) => new Promise((resolve) => {
      c.socket.once('close', resolve);
      c.socket.end(DISCONNECT);
    }))),
    new Promise((resolve) => setTimeout(resolve, ms)),
  ]);
  for (const c of clients) c.socket.destroy();
}

/** Subscribes and waits for the SUBACK; rejects if the filter was refused. */
export function subscribe(client, topic, qos) {
  return new Promise((resolve, reject) => {
    const previous = client.onPacket;
    const timer = setTimeout(() => reject(new Error('no SUBACK within 10 s')), 10_000);
    client.onPacket = (p, c) => {
      if (p.cmd !== 'suback') return previous?.(p, c);
      clearTimeout(timer);
      client.onPacket = previous;
      if (p.granted[0] === 0x80) reject(new Error(`subscription to ${topic} refused`));
      else resolve(p.granted[0]);
    };
    client.socket.write(subscribePacket(topic, qos));
  });
}

/**
 * A PUBLISH encoder for a fixed topic and payload: QoS 0 packets are one shared buffer; QoS 1
 * packets are the template with the message id patched in.
 */
export function publishEncoder(topic, payload, qos) {
  const template = generate({ cmd: 'publish', topic, payload, qos, messageId: qos > 0 ? 1 : undefined, retain: false, dup: false });
  const topicBytes = Buffer.byteLength(topic);
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + payload.length;
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  const idOffset = 1 + lengthBytes + 2 + topicBytes;
  return {
    size: template.length,
    /** `count` packets with message ids starting at `firstId`, in one buffer. */
    batch(count, firstId) {
      const out = Buffer.allocUnsafe(template.length * count);
      for (let i = 0; i < count; i++) {
        template.copy(out, i * template.length);
        if (qos > 0) out.writeUInt16BE(((firstId + i - 1) % 65_535) + 1, i * template.length + idOffset);
      }
      return out;
    },
  };
}

export const pubackOf = (messageId) => Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]);
