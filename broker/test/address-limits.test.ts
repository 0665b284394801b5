// What one client address may cost the broker (issue 14, item 5): open sockets per address, refused
// CONNECTs per address per minute, and log lines that stay small and sampled however a client loops.
import { afterEach, describe, expect, test } from '@jest/globals';
import net from 'node:net';
import { Writable } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { pino } from 'pino';
import { loadConfig, openServices, type Services } from '@signalgate/shared';
import { startBroker, type BrokerHandle } from '@signalgate/broker';
import { connackCode, eventually, sleep, tempDir } from './support/harness.js';
import { storeEnv } from '../../tests/support/database.js';

let broker: BrokerHandle | undefined;
let services: Services | undefined;
const lines: Record<string, unknown>[] = [];

afterEach(async () => {
  await broker?.close();
  await services?.store.close();
  broker = undefined;
  services = undefined;
  lines.length = 0;
});

async function start(env: Record<string, string>): Promise<string> {
  const dataDir = tempDir('address-limits');
  const config = loadConfig({
    SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: '0',
    SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off', ...(await storeEnv(dataDir)), ...env,
  });
  services = await openServices(config);
  const sink = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); done(); } });
  broker = await startBroker({ config, services, logger: pino({ level: 'info' }, sink) });
  return `mqtt://127.0.0.1:${broker.ports.mqtt}`;
}

/** A raw socket to the broker, resolved when it is open; `closed` says whether the broker closed it. */
async function rawSocket(port: number): Promise<{ socket: net.Socket; closed: () => boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  return { socket, closed: () => closed };
}

describe('sockets per address', () => {
  test('past SIGNALGATE_MAX_CONNECTIONS_PER_IP, a new socket is closed before anything is read; one closing frees a place', async () => {
    await start({ SIGNALGATE_MAX_CONNECTIONS_PER_IP: '5', SIGNALGATE_CONNECT_TIMEOUT: '30' });
    const port = broker!.ports.mqtt!;
    const idle = await Promise.all(Array.from({ length: 5 }, () => rawSocket(port)));
    const sixth = await rawSocket(port);
    await eventually(() => sixth.closed());
    await sleep(50);
    expect(idle.map((s) => s.closed())).toEqual([false, false, false, false, false]);
    // The WebSocket listener counts against the same address.
    const ws = await rawSocket(broker!.ports.ws!);
    await eventually(() => ws.closed());
    idle[0]!.socket.destroy();
    await eventually(() => idle[0]!.closed());
    await sleep(50);
    const again = await rawSocket(port);
    await sleep(100);
    expect(again.closed()).toBe(false);
    for (const s of [...idle, again]) s.socket.destroy();
  });
});

describe('refused CONNECTs per address', () => {
  test('past SIGNALGATE_CONNECT_REFUSALS_PER_IP refusals in a minute, the address\'s new sockets are closed unread', async () => {
    const url = await start({ SIGNALGATE_CONNECT_REFUSALS_PER_IP: '3' });
    for (let i = 0; i < 3; i++) expect(await connackCode(url, 'nobody@org_aaaaaaaaaaaa', `tkn_${'x'.repeat(43)}`)).toBe(4);
    const next = await rawSocket(broker!.ports.mqtt!);
    next.socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'late', clean: true, keepalive: 0 }));
    await eventually(() => next.closed());
  });

  test('a refused CONNECT logs a clipped line, sampled per address and reason, with the count so far', async () => {
    const url = await start({});
    const huge = `u${'x'.repeat(60_000)}@org_aaaaaaaaaaaa`; // MQTT strings stop at 65,535 bytes
    for (let i = 0; i < 40; i++) expect(await connackCode(url, huge, `tkn_${'x'.repeat(43)}`, { clientId: `c${'y'.repeat(200)}` })).toBe(4);
    const refused = lines.filter((l) => l.msg === 'mqtt connect refused');
    expect(refused.map((l) => l.refused_so_far)).toEqual([1, 2, 4, 8, 16, 32]);
    for (const l of refused) expect(JSON.stringify(l).length).toBeLessThan(1000);
  });
});
