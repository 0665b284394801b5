// Starts the real token API on an ephemeral port over a fresh SQLite data dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger, loadConfig, openServices, type Config, type Services } from '@signalgate/shared';
import { startTokenApi, type TokenApiHandle } from '@signalgate/token-api';
import { storeEnv } from '../../../tests/support/database.js';

export const ADMIN_KEY = 'adm_test-admin-key-0123456789abcdefghijklmnop';

export interface TestApi {
  config: Config;
  services: Services;
  api: TokenApiHandle;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export function tempDataDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `signalgate-api-${label}-`));
}

export async function startApi(label: string, env: Record<string, string> = {}, dataDir = tempDataDir(label)): Promise<TestApi> {
  const config = loadConfig({
    SIGNALGATE_DATA_DIR: dataDir,
    SIGNALGATE_API_PORT: '0',
    SIGNALGATE_LOG_LEVEL: 'silent',
    SIGNALGATE_ADMIN_KEY: ADMIN_KEY,
    // Suites send many deliberate failures from one address; the rate-limit suite lowers these.
    SIGNALGATE_AUTH_FAILURES_PER_IP: '100000',
    ...(await storeEnv(dataDir)),
    ...env,
  });
  const services = await openServices(config);
  const api = await startTokenApi({ config, services, logger: createLogger(config.logLevel) });
  return {
    config, services, api, url: api.url, dataDir,
    async stop() {
      await api.close();
      await services.store.close();
    },
  };
}

export type Json = Record<string, any>;

export async function call(
  url: string,
  init: { method?: string; body?: unknown; key?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.body !== undefined) headers['Content-Type'] ??= 'application/json';
  if (init.key !== undefined) headers.Authorization = `Bearer ${init.key}`;
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: Json;
  try {
    body = text ? (JSON.parse(text) as Json) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

/** Every error body has exactly this shape. */
export function expectErrorShape(body: Json): void {
  const keys = Object.keys(body).sort().join(',');
  if (keys !== 'detail,error,error_description' || typeof body.error !== 'string' || !/^[a-z_]+$/.test(body.error)
    || typeof body.error_description !== 'string' || body.detail !== body.error_description) {
    throw new Error(`not an error body: ${JSON.stringify(body)}`);
  }
  if (/at .+\.(ts|js):\d+/.test(body.error_description)) throw new Error(`stack trace in error body: ${body.error_description}`);
}
