// A real broker on ephemeral ports over a fresh store (a SQLite file; in the postgres jest project a
// fresh PostgreSQL database, tests/support/database.ts), real mqtt.js clients, and small helpers to
// create orgs and tokens through the services (the HTTP API is not under test here).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type IClientOptions, type IConnackPacket, type IDisconnectPacket, type MqttClient } from 'mqtt';
import {
  createLogger, loadConfig, openServices, type Config, type IssuedToken, type MintRequest, type OrgLimits, type Rules, type Services,
} from '@signalgate/shared';
import { startBroker, type BrokerHandle } from '@signalgate/broker';
import { storeEnv } from '../../../tests/support/database.js';

export interface TestBroker {
  config: Config;
  services: Services;
  broker: BrokerHandle;
  dataDir: string;
  urls: { mqtt: string; ws: string; mqtts?: string; wss?: string };
  newOrg(opts?: { rules?: Rules; limits?: Partial<OrgLimits>; minTtlSeconds?: number }): Promise<string>;
  mint(orgId: string, userId: string, extra?: Partial<MintRequest>): Promise<IssuedToken>;
  connect(url: string, token: Pick<IssuedToken, 'username' | 'password'>, opts?: IClientOptions): Promise<MqttClient>;
  stop(): Promise<void>;
}

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `signalgate-broker-${label}-`));
}

/** A throw-away self-signed certificate for localhost. */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

export async function startTestBroker(label: string, env: Record<string, string> = {}, opts: { tls?: boolean } = {}): Promise<TestBroker> {
  const dataDir = tempDir(label);
  const tlsFiles = opts.tls ? selfSignedCert(dataDir) : undefined;
  const config = loadConfig({
    SIGNALGATE_DATA_DIR: dataDir,
    SIGNALGATE_MQTT_PORT: '0',
    SIGNALGATE_WS_PORT: '0',
    SIGNALGATE_MQTTS_PORT: tlsFiles ? '0' : 'off',
    SIGNALGATE_WSS_PORT: tlsFiles ? '0' : 'off',
    ...(tlsFiles ? { SIGNALGATE_TLS_CERT: tlsFiles.cert, SIGNALGATE_TLS_KEY: tlsFiles.key } : {}),
    SIGNALGATE_LOG_LEVEL: 'silent',
    SIGNALGATE_CHANGE_POLL_MS: '50',
    ...(await storeEnv(dataDir)),
    ...env,
  });
  const services = await openServices(config);
  let broker: BrokerHandle;
  try {
    broker = await startBroker({ config, services, logger: createLogger(config.logLevel) });
  } catch (err) {
    await services.store.close();
    throw err;
  }
  const clients: MqttClient[] = [];
  const p = broker.ports;
  return {
    config, services, broker, dataDir,
    urls: {
      mqtt: `mqtt://127.0.0.1:${p.mqtt}`,
      ws: `ws://127.0.0.1:${p.ws}/mqtt`,
      ...(p.mqtts ? { mqtts: `mqtts://127.0.0.1:${p.mqtts}` } : {}),
      ...(p.wss ? { wss: `wss://127.0.0.1:${p.wss}/mqtt` } : {}),
    },
    async newOrg(o = {}) {
      const { org } = await services.orgs.create(`org ${Math.random()}`);
      if (o.rules) await services.rules.setDefault(org.id, o.rules);
      if (o.limits || o.minTtlSeconds) {
        await services.orgs.update(org.id, { ...(o.limits ? { limits: o.limits } : {}), ...(o.minTtlSeconds ? { minTtlSeconds: o.minTtlSeconds } : {}) });
      }
      return org.id;
    },
    mint(orgId, userId, extra = {}) {
      return services.tokens.mint({ orgId, userId, ...extra });
    },
    async connect(url, token, o = {}) {
      const c = await connectClient(url, { username: token.username, password: token.password, rejectUnauthorized: false, ...o });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.end(true);
      await broker.close();
      await services.store.close();
    },
  };
}

/** Resolves on CONNACK 0; rejects with mqtt.js' error (its `code` is the CONNACK return code). */
export async function connectClient(url: string, opts: IClientOptions): Promise<MqttClient> {
  return (await connectWithConnack(url, opts)).client;
}

/** As connectClient, with the CONNACK packet (MQTT 5: its properties). */
export function connectWithConnack(url: string, opts: IClientOptions): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    client.once('connect', (connack) => resolve({ client, connack }));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

/** Resolves with the first DISCONNECT packet the broker sends this (MQTT 5) client. */
export function serverDisconnect(client: MqttClient, timeoutMs = 3000): Promise<IDisconnectPacket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no DISCONNECT from the broker')), timeoutMs);
    client.once('disconnect', (packet) => {
      clearTimeout(timer);
      resolve(packet);
    });
  });
}

/** The CONNACK return code a CONNECT with these credentials gets. */
export async function connackCode(url: string, username: string, password: string, opts: IClientOptions = {}): Promise<number> {
  try {
    const c = await connectClient(url, { username, password, rejectUnauthorized: false, ...opts });
    c.end(true);
    return 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
}

/** Everything a client receives, in order, with a way to wait for a particular message. */
export function inbox(client: MqttClient) {
  const messages: Received[] = [];
  const waiters: { match: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];
  client.on('message', (topic, payload, packet) => {
    const m = { topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos };
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.match(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  return {
    messages,
    waitFor(match: (m: Received) => boolean, timeoutMs = 3000): Promise<Received> {
      const seen = messages.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(messages)}`)), timeoutMs);
        waiters.push({ match, resolve: (m) => { clearTimeout(timer); resolve(m); } });
      });
    },
  };
}

export const onTopic = (topic: string, payload?: string) => (m: Received) => m.topic === topic && (payload === undefined || m.payload === payload);

/** Resolves when the client's connection closes; rejects if it is still open after `timeoutMs`. */
export function whenClosed(client: MqttClient, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (client.disconnected || (!client.connected && !client.reconnecting)) return resolve();
    const timer = setTimeout(() => reject(new Error('client still connected')), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Resolves after `ms` — only to let time pass (an expiry), never as a pass/fail measure. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value (for effects the broker applies asynchronously). */
export async function eventually<T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 3000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** The SUBACK return codes for these filters, in order (mqtt.js rejects a SUBACK holding 0x80). */
export async function subackCodes(client: MqttClient, filters: (string | [string, 0 | 1 | 2])[]): Promise<number[]> {
  const map: Record<string, { qos: 0 | 1 | 2 }> = {};
  for (const f of filters) {
    const [topic, qos] = typeof f === 'string' ? [f, 0 as const] : f;
    map[topic] = { qos };
  }
  try {
    return (await client.subscribeAsync(map)).map((g) => g.qos);
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
    if (!granted) throw err;
    return granted;
  }
}

/** The PUBACK reason code of a QoS 1 publish (mqtt.js rejects a code of 0x80 or more, with it as `code`). */
export async function pubackCode(c: MqttClient, topic: string, payload: string | Buffer, retain = false): Promise<number> {
  try {
    await c.publishAsync(topic, payload, { qos: 1, retain });
    return 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}
