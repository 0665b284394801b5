// Starting SignalGate in this process: the services over a data dir, a declared state applied,
// then the token API and the broker. `signalgate start` and the testing API (testing.ts) both
// start here. Ephemeral runs get a fresh data dir (removed by stop()), port 0 for every listener
// not set (the OS picks, so parallel runs never collide), and org TTL minimums of 1 s, so a test
// can watch a token of a few seconds expire.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  applyState, bootstrapDevOrg, loadConfig, localUrlHost, openServices, SignalGateError,
  type Config, type DeclaredState, type Logger, type PublishChannelHolder, type Services,
} from '@signalgate/shared';
import type { TokenApiHandle } from '@signalgate/token-api';
import type { BrokerHandle } from '@signalgate/broker';

const LISTENER_PORTS = ['SIGNALGATE_API_PORT', 'SIGNALGATE_MQTT_PORT', 'SIGNALGATE_WS_PORT', 'SIGNALGATE_MQTTS_PORT', 'SIGNALGATE_WSS_PORT'] as const;
/** What an ephemeral run lets a token live at least (seconds), unless the state file says otherwise. */
export const EPHEMERAL_MIN_TTL_SECONDS = 1;

export interface LaunchOptions {
  env: NodeJS.ProcessEnv;
  ephemeral: boolean;
  state: DeclaredState | null;
  logger: (config: Config) => Logger;
  api?: boolean;
  broker?: boolean;
  /** false: prepare the data dir (state, admin key, dev org) and open no listener (a --workers primary). */
  listen?: boolean;
}

export interface Summary {
  data_dir: string;
  ephemeral: boolean;
  api_url: string | null;
  dashboard_url: string | null;
  mqtt_url: string | null;
  ws_url: string | null;
  mqtts_url: string | null;
  wss_url: string | null;
  ports: { api: number | null; mqtt: number | null; ws: number | null; mqtts: number | null; wss: number | null };
  /** Organisations of the declared state (file and app settings), as stored. */
  organizations: Array<{ id: string; uuid: string; name: string }>;
  dev_organization_id: string | null;
  dev_secret_key: string | null;
  admin_key: string | null;
  /** Changes the declared state made to the data dir (empty when it already matched). */
  state_changes: string[];
}

export interface Launched {
  /** The environment the configuration was read from (an ephemeral run's data dir and ports in it). */
  env: NodeJS.ProcessEnv;
  config: Config;
  services: Services;
  logger: Logger;
  api: TokenApiHandle | undefined;
  broker: BrokerHandle | undefined;
  summary: Summary;
  stop(): Promise<void>;
}

/** The environment an ephemeral run starts with: a fresh data dir and port 0 for every listener not set. */
export function ephemeralEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-ephemeral-'));
  const out: NodeJS.ProcessEnv = { ...env, SIGNALGATE_DATA_DIR: dataDir };
  for (const v of LISTENER_PORTS) if (!env[v]?.trim()) out[v] = '0';
  return out;
}

/** Throwaway data dirs of this process, removed however it ends (short of SIGKILL): one 'exit' hook for all. */
const throwaway = new Set<string>();
let exitHooked = false;
function removeAtExit(dir: string): void {
  if (!exitHooked) process.once('exit', () => { for (const d of throwaway) fs.rmSync(d, { recursive: true, force: true }); });
  exitHooked = true;
  throwaway.add(dir);
}

/** The secret keys a declared state gives an organisation (for a throwaway run's summary and the testing API). */
export function declaredKeysOf(state: DeclaredState | null, org: { id: string; uuid: string }): string[] {
  const entries = state?.organizations.filter((d) => d.id === org.id || d.uuid?.toLowerCase() === org.uuid) ?? [];
  return [...new Set(entries.flatMap((d) => (d.secret_keys ?? []).map((k) => k.secret)))];
}

export async function launch(options: LaunchOptions): Promise<Launched> {
  const env = options.ephemeral ? ephemeralEnv(options.env) : options.env;
  const removeDataDir = () => {
    if (!options.ephemeral) return;
    throwaway.delete(env.SIGNALGATE_DATA_DIR!);
    fs.rmSync(env.SIGNALGATE_DATA_DIR!, { recursive: true, force: true });
  };
  if (options.ephemeral) removeAtExit(env.SIGNALGATE_DATA_DIR!);
  let config: Config;
  let services: Services;
  try {
    config = loadConfig(env);
    services = await openServices(config);
  } catch (err) {
    removeDataDir();
    throw err;
  }
  const logger = options.logger(config);
  let api: TokenApiHandle | undefined;
  let broker: BrokerHandle | undefined;
  let stopped: Promise<void> | null = null;
  const stop = () => (stopped ??= (async () => {
    try {
      await broker?.close();
      await api?.close();
    } finally {
      try {
        await services.store.close();
      } finally {
        removeDataDir();
      }
    }
  })());

  try {
    const minTtl = options.ephemeral ? { defaultMinTtlSeconds: EPHEMERAL_MIN_TTL_SECONDS } : {};
    // The admin key's and the org keys' argon2 hashes run side by side (a cold start waits for both).
    // The generated dev organisation only when nothing was declared: declared orgs are the app's.
    // All settled before a failure is thrown: the store is closed then, under the others' feet.
    const settled = await Promise.allSettled([
      services.admin.ensure(config.adminKey),
      options.state ? applyState(services, options.state, minTtl) : Promise.resolve(null),
      config.bootstrapDevOrg && !options.state ? bootstrapDevOrg(services.store, services.orgs) : Promise.resolve(null),
    ] as const);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [admin, applied, dev] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
      Awaited<ReturnType<Services['admin']['ensure']>>, Awaited<ReturnType<typeof applyState>> | null, Awaited<ReturnType<typeof bootstrapDevOrg>>,
    ];
    if (dev && options.ephemeral) await services.orgs.update(dev.organizationId, { minTtlSeconds: EPHEMERAL_MIN_TTL_SECONDS });

    const brokerPorts = [config.mqttPort, config.wsPort, config.mqttsPort, config.wssPort];
    const runApi = options.listen !== false && options.api !== false && config.apiPort !== null;
    const runBroker = options.listen !== false && options.broker !== false && brokerPorts.some((p) => p !== null);
    if (options.listen !== false && !runApi && !runBroker) throw new SignalGateError('invalid_request', 'nothing to start: every listener is off');
    // Loaded only here: the admin commands need neither Express nor Aedes.
    // The REST publisher of an API hands its messages to the broker of this process, once it runs.
    const publisher: PublishChannelHolder = { current: null };
    if (runApi) api = await (await import('@signalgate/token-api')).startTokenApi({ config, services, logger, publisher });
    if (runBroker) {
      broker = await (await import('@signalgate/broker')).startBroker({ config, services, logger });
      publisher.current = broker.publisher;
    }

    const host = localUrlHost(config.bind);
    const p = broker?.ports ?? {};
    const summary: Summary = {
      data_dir: config.dataDir,
      ephemeral: options.ephemeral,
      api_url: api?.url ?? null,
      dashboard_url: api ? `${api.url}/dashboard/` : null,
      mqtt_url: p.mqtt !== undefined ? `mqtt://${host}:${p.mqtt}` : null,
      ws_url: p.ws !== undefined ? `ws://${host}:${p.ws}/mqtt` : null,
      mqtts_url: p.mqtts !== undefined ? `mqtts://${host}:${p.mqtts}` : null,
      wss_url: p.wss !== undefined ? `wss://${host}:${p.wss}/mqtt` : null,
      ports: { api: api?.port ?? null, mqtt: p.mqtt ?? null, ws: p.ws ?? null, mqtts: p.mqtts ?? null, wss: p.wss ?? null },
      organizations: applied?.organizations ?? [],
      dev_organization_id: dev?.organizationId ?? null,
      dev_secret_key: dev?.secretKey ?? null,
      admin_key: admin.generated ?? null,
      state_changes: applied?.changes ?? [],
    };
    return { env, config, services, logger, api, broker, summary, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The lines an app's .env.local needs to use this SignalGate instead of CloudSignal (the names
 * CloudSignal's SDK examples read); only URLs, since the org id and key stay the app's own.
 */
export function appSettingsOf(s: Summary): Record<string, string> {
  const out: Record<string, string> = {};
  if (s.api_url) {
    out.NEXT_PUBLIC_TOKEN_SERVICE_URL = s.api_url; // the SDK's tokenServiceUrl
    out.CLOUDSIGNAL_TOKEN_SERVICE_URL = s.api_url;
    out.CLOUDSIGNAL_REST_PUBLISHER_URL = s.api_url; // POST /v1/publish
  }
  const browser = s.wss_url ?? s.ws_url;
  if (browser) {
    out.NEXT_PUBLIC_CLOUDSIGNAL_WSS_URL = browser; // the SDK's host in a browser
    out.NEXT_PUBLIC_CLOUDSIGNAL_HOST = browser;
  }
  const server = s.mqtts_url ?? s.mqtt_url;
  if (server) {
    out.CLOUDSIGNAL_MQTTS_URL = server; // the SDK's host on a server
    out.CLOUDSIGNAL_HOST = server;
  }
  return out;
}
