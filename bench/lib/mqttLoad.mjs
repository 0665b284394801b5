// The load generator: raw MQTT 3.1.1 or 5 over `net` sockets, packets encoded and decoded with
// mqtt-packet (the codec mqtt.js and aedes use). Chosen over mqtt.js clients because a client
// object there costs tens of kB and a stream stack per connection, which would make "10k
// connections from one process" measure the load generator; here a connection is one socket,
// one parser and a few closures, and hot packets are pre-encoded buffers written in batches.
// `protocolVersion` is 4 (MQTT 3.1.1) or 5 everywhere below; a client remembers its own.
import net from 'node:net';
import mqttPacket from 'mqtt-packet';

const { generate, parser: newParser } = mqttPacket;

export const PROTOCOLS = [4, 5];
export const protocolName = (v) => (v === 5 ? 'MQTT 5' : 'MQTT 3.1.1');

/**
 * A CONNECT, clean session, keep-alive 300 s. At 5: session expiry 0 (the session ends with the
 * connection, like clean = true at 3.1.1), no other property: the broker's defaults apply.
 */
export function connectPacket({ clientId, username, password, keepalive = 300, protocolVersion = 4 }) {
  const packet = { cmd: 'connect', protocolId: 'MQTT', protocolVersion, clean: true, clientId, keepalive, username, password: Buffer.from(password) };
  if (protocolVersion === 5) packet.properties = { sessionExpiryInterval: 0 };
  return generate(packet, { protocolVersion });
}

export function subscribePacket(topic, qos, messageId = 1, protocolVersion = 4) {
  return generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos }] }, { protocolVersion });
}

const DISCONNECT = { 4: generate({ cmd: 'disconnect' }), 5: generate({ cmd: 'disconnect', reasonCode: 0 }, { protocolVersion: 5 }) };

/**
 * Opens one connection and resolves once CONNACK 0 arrived (rejects on another code, an error or
 * a close before it; the error carries `returnCode`, the 3.1.1 return code or the v5 reason code).
 * `connackMs` is CONNECT written → CONNACK parsed; `connackProperties` the v5 CONNACK's properties
 * (receiveMaximum…). Packets after CONNACK go to `onPacket(packet, client)`. `protocolVersion`
 * must be the one `connect` was encoded with: the parser reads v5 properties only at 5.
 * `connackTimeoutMs`: the socket is destroyed and the promise rejects (err.connackTimeout) when no
 * CONNACK came by then, as a real client's connect timeout does (a handshake the kernel dropped
 * from a full accept queue leaves the client "connected" to nothing).
 */
export function openClient({ port, connect, onPacket = null, host = '127.0.0.1', protocolVersion = 4, connackTimeoutMs = 0 }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    const timer = connackTimeoutMs > 0 ? setTimeout(() => {
      reject(Object.assign(new Error(`no CONNACK within ${connackTimeoutMs} ms`), { connackTimeout: true }));
      socket.destroy();
    }, connackTimeoutMs) : null;
    const settled = () => timer && clearTimeout(timer);
    const parser = newParser({ protocolVersion });
    const client = { socket, protocolVersion, connackMs: NaN, connackProperties: {}, closedAt: 0, onClose: null, onPacket };
    let t0 = 0;
    let connected = false;
    socket.setNoDelay(true);
    parser.on('packet', (p) => {
      if (connected) return client.onPacket?.(p, client);
      if (p.cmd !== 'connack') return void socket.destroy(new Error(`expected CONNACK, got ${p.cmd}`));
      client.connackMs = performance.now() - t0;
      settled();
      const code = protocolVersion === 5 ? p.reasonCode : p.returnCode;
      if (code !== 0) {
        socket.destroy();
        return reject(Object.assign(new Error(`CONNACK ${code}`), { returnCode: code }));
      }
      client.connackProperties = p.properties ?? {};
      connected = true;
      resolve(client);
    });
    // A 3.1.1-only broker (aedes 1.2) answers a v5 CONNECT with a 3.1.1 CONNACK (20 02 00 01); the
    // v5 parser reads it as reason code 1 with no properties, so that rejects with "CONNACK 1".
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
      settled();
      if (!connected) reject(err);
    });
    socket.on('close', () => {
      client.closedAt = performance.now();
      settled();
      if (!connected) reject(new Error('connection closed before CONNACK'));
      client.onClose?.(client);
    });
  });
}

/**
 * Opens `connects.length` connections with at most `concurrency` CONNECTs in flight. Resolves with
 * the clients, the CONNECT→CONNACK latencies (ms), failures and the wall time of the whole batch.
 */
export async function connectMany({ port, connects, concurrency, onPacket = null, deadlineMs = 120_000, protocolVersion = 4 }) {
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
        const c = await openClient({ port, connect: connects[i], onPacket, protocolVersion });
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
      c.socket.end(DISCONNECT[c.protocolVersion ?? 4]);
    }))),
    new Promise((resolve) => setTimeout(resolve, ms)),
  ]);
  for (const c of clients) c.socket.destroy();
}

/** Subscribes and waits for the SUBACK; rejects if the filter was refused (0x80 at 3.1.1, ≥ 0x80 at 5). */
export function subscribe(client, topic, qos) {
  return new Promise((resolve, reject) => {
    const previous = client.onPacket;
    const timer = setTimeout(() => reject(new Error('no SUBACK within 10 s')), 10_000);
    client.onPacket = (p, c) => {
      if (p.cmd !== 'suback') return previous?.(p, c);
      clearTimeout(timer);
      client.onPacket = previous;
      if (p.granted[0] >= 0x80) reject(new Error(`subscription to ${topic} refused (${p.granted[0]})`));
      else resolve(p.granted[0]);
    };
    client.socket.write(subscribePacket(topic, qos, 1, client.protocolVersion));
  });
}

/**
 * A PUBLISH encoder for a fixed topic and payload: QoS 0 packets are one shared buffer; QoS 1
 * packets are the template with the message id patched in. At 5 the packet carries an empty
 * property list (one byte after the message id); no topic alias.
 */
export function publishEncoder(topic, payload, qos, protocolVersion = 4) {
  const template = generate({ cmd: 'publish', topic, payload, qos, messageId: qos > 0 ? 1 : undefined, retain: false, dup: false }, { protocolVersion });
  const topicBytes = Buffer.byteLength(topic);
  let lengthBytes = 1; // the remaining length's varint, read from the template
  while (template[lengthBytes] & 0x80) lengthBytes++;
  const idOffset = 1 + lengthBytes + 2 + topicBytes;
  if (qos > 0 && template.readUInt16BE(idOffset) !== 1) throw new Error('publishEncoder: message id not where expected');
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

/** PUBACK, the same four bytes at 3.1.1 and 5 (at 5, remaining length 2 means reason code 0, no properties). */
export const pubackOf = (messageId) => Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]);

/** `--protocol 4|5|both` (also `3.1.1`, `4,5`) → the protocol levels to run, 3.1.1 first. */
export function parseProtocols(value = 'both') {
  const v = String(value).trim().toLowerCase();
  if (v === 'both' || v === 'all') return [...PROTOCOLS];
  const list = v.split(',').map((x) => (x === '3.1.1' || x === '311' ? 4 : Number(x)));
  if (!list.length || list.some((x) => !PROTOCOLS.includes(x))) throw new Error(`--protocol ${value}: expected 4, 5 or both`);
  return [...new Set(list)].sort();
}
