// `signalgate/testing`: SignalGate started in the test's own process, on a fresh data dir and
// ports the OS picks, so any number run side by side (in one process or across jest/vitest
// workers) and leave nothing behind:
//
//   const sg = await startSignalGate({ state: { organizations: [{ id: 'org_k7xm4pqr2n5t', secret_keys: [{ secret: 'sk_…' }] }] } });
//   const client = await sg.connect({ userEmail: 'alice@example.com' });   // mqtt.js, MQTT 5
//   …
//   await sg.stop();                                                         // no open handle left
//
// Credentials are minted over HTTP with the calls CloudSignal's SDK makes (POST /v2/tokens/create).
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createLogger, parseStateFile, type DeclaredState } from '@signalgate/shared';
import { appSettingsOf, declaredKeysOf, launch, type Summary } from './launch.js';
import { readStateFile } from './stateFiles.js';

export interface StartSignalGateOptions {
  /** Declared state: an object in the state-file format, or the path of a YAML/JSON state file. */
  state?: DeclaredState | string;
  /** Extra SIGNALGATE_* settings (and the values `${VAR}` in the state reads); the process environment is not read. */
  env?: Record<string, string>;
  /** pino level for SignalGate's own logs (default: silent). */
  logLevel?: 'silent' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

export interface SeededOrg {
  id: string;
  uuid: string;
  name: string;
  /** The secret keys this instance knows in clear: those of the state, or the dev org's generated one. */
  secretKeys: string[];
}

export interface MintOptions {
  /** Organisation (id or UUID; default: the first one). */
  org?: string;
  userEmail?: string;
  ttlSeconds?: number;
  integrationId?: string;
  /** Passed through to /v2/tokens/create as given (e.g. `permissions`, `topics`). */
  extra?: Record<string, unknown>;
}

export interface MintedToken {
  token_id: string;
  access_token: string;
  mqtt_credentials: { username: string; password: string };
  expires_at: string;
  refresh_recommended_at: string;
  [field: string]: unknown;
}

export interface ConnectOptions extends MintOptions {
  /** A token minted before; default: a fresh one for `userEmail`. */
  token?: MintedToken;
  transport?: 'mqtt' | 'ws';
  /** mqtt.js options (default: MQTT 5, clean: true, no reconnect). */
  mqtt?: IClientOptions;
}

export interface SignalGate {
  urls: { api: string; dashboard: string; mqtt: string; ws: string };
  ports: Summary['ports'];
  /** The organisations to use: the declared ones, or the generated dev organisation. */
  orgs: SeededOrg[];
  adminKey: string | null;
  /** The .env lines an app needs to use this instance (tokenServiceUrl, broker host, REST publisher). */
  appSettings: Record<string, string>;
  mintToken(options?: MintOptions): Promise<MintedToken>;
  connect(options?: ConnectOptions): Promise<MqttClient>;
  /** POST /v1/publish with the org's secret key (the REST publisher). */
  publish(topic: string, payload: unknown, options?: { org?: string; qos?: 0 | 1; retain?: boolean }): Promise<Response>;
  stop(): Promise<void>;
}

export async function startSignalGate(options: StartSignalGateOptions = {}): Promise<SignalGate> {
  const env: NodeJS.ProcessEnv = { SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off', ...options.env };
  const state = typeof options.state === 'string'
    ? readStateFile(options.state, env)
    : options.state ? parseStateFile(JSON.stringify(options.state), { source: 'state', env }) : null;
  const level = options.logLevel ?? 'silent';
  const run = await launch({ env, ephemeral: true, state, logger: () => createLogger(level) });
  const s = run.summary;
  const dev = s.dev_organization_id === null ? null : await run.services.orgs.get(s.dev_organization_id);
  const orgs: SeededOrg[] = dev
    ? [{ id: dev.id, uuid: dev.uuid, name: dev.name, secretKeys: [s.dev_secret_key!] }]
    : s.organizations.map((o) => ({ ...o, secretKeys: declaredKeysOf(state, o) }));
  const clients = new Set<MqttClient>();

  const orgFor = (ref?: string): SeededOrg => {
    const org = ref === undefined ? orgs[0] : orgs.find((o) => o.id === ref || o.uuid === ref.toLowerCase());
    if (!org) throw new Error(`signalgate/testing: no organisation ${ref ?? '(none declared)'}`);
    if (org.secretKeys.length === 0) throw new Error(`signalgate/testing: ${org.id} has no secret key in the state (secret_keys)`);
    return org;
  };
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${s.api_url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  const sg: SignalGate = {
    urls: { api: s.api_url!, dashboard: s.dashboard_url!, mqtt: s.mqtt_url!, ws: s.ws_url! },
    ports: s.ports,
    orgs,
    adminKey: s.admin_key,
    appSettings: appSettingsOf(s),
    async mintToken(o = {}) {
      const org = orgFor(o.org);
      const res = await post('/v2/tokens/create', {
        organization_id: org.id, secret_key: org.secretKeys[0], user_email: o.userEmail ?? 'test@example.com',
        ...(o.ttlSeconds !== undefined ? { ttl_seconds: o.ttlSeconds } : {}),
        ...(o.integrationId !== undefined ? { integration_id: o.integrationId } : {}),
        ...o.extra,
      });
      const body = (await res.json()) as MintedToken & { error?: string; error_description?: string };
      if (!res.ok) throw new Error(`signalgate/testing: mint failed: ${res.status} ${body.error}: ${body.error_description}`);
      return body;
    },
    async connect(o = {}) {
      const token = o.token ?? (await sg.mintToken(o));
      const url = o.transport === 'ws' ? s.ws_url! : s.mqtt_url!;
      const client = await mqtt.connectAsync(url, {
        protocolVersion: 5, clean: true, reconnectPeriod: 0, connectTimeout: 5000,
        username: token.mqtt_credentials.username, password: token.mqtt_credentials.password, ...o.mqtt,
      });
      clients.add(client);
      client.once('close', () => {
        if (client.options.reconnectPeriod === 0) clients.delete(client);
      });
      return client;
    },
    publish(topic, payload, o = {}) {
      return post('/v1/publish', { topic, payload, qos: o.qos ?? 1, retain: o.retain ?? false }, { authorization: `Bearer ${orgFor(o.org).secretKeys[0]}` });
    },
    async stop() {
      await Promise.all([...clients].map((c) => c.endAsync(true).catch(() => {})));
      clients.clear();
      await run.stop();
    },
  };
  return sg;
}
