// Starts the real token API and broker on ephemeral ports over a fresh SQLite file, the way
// `signalgate start` does, for cross-service suites.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { createLogger, loadConfig, openServices, type Config, type PublishChannelHolder, type Services } from '@signalgate/shared';
import { startTokenApi, type TokenApiHandle } from '@signalgate/token-api';
import { startBroker, type BrokerHandle } from '@signalgate/broker';

export interface Stack {
  config: Config;
  services: Services;
  api: TokenApiHandle;
  broker: BrokerHandle;
  dataDir: string;
  mqttUrl: string;
  wsUrl: string;
  stop(): Promise<void>;
}

export function tempDataDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `signalgate-${label}-`));
}

export async function startStack(label: string, env: Record<string, string> = {}, dataDir = tempDataDir(label)): Promise<Stack> {
  const config = loadConfig({
    SIGNALGATE_DATA_DIR: dataDir,
    SIGNALGATE_API_PORT: '0',
    SIGNALGATE_MQTT_PORT: '0',
    SIGNALGATE_WS_PORT: '0',
    SIGNALGATE_MQTTS_PORT: 'off',
    SIGNALGATE_WSS_PORT: 'off',
    SIGNALGATE_LOG_LEVEL: 'silent',
    ...env,
  });
  const services = await openServices(config);
  const logger = createLogger(config.logLevel);
  const publisher: PublishChannelHolder = { current: null };
  const api = await startTokenApi({ config, services, logger, publisher });
  const broker = await startBroker({ config, services, logger });
  publisher.current = broker.publisher;
  return {
    config, services, api, broker, dataDir,
    mqttUrl: `mqtt://127.0.0.1:${broker.ports.mqtt}`,
    wsUrl: `ws://127.0.0.1:${broker.ports.ws}/mqtt`,
    async stop() {
      await broker.close();
      await api.close();
      await services.store.close();
    },
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

// Resolves on CONNACK 0, rejects with mqtt.js' error (its `code` is the CONNACK return code).
export { connectClient, eventually } from '../../broker/test/support/harness.js';

export function nextMessage(client: MqttClient, timeoutMs = 3000): Promise<{ topic: string; payload: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message within timeout')), timeoutMs);
    client.once('message', (topic, payload) => {
      clearTimeout(timer);
      resolve({ topic, payload: payload.toString() });
    });
  });
}

export function closed(client: MqttClient, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve();
    const timer = setTimeout(() => reject(new Error('client still connected')), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
