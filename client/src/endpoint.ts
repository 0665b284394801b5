// Where the broker is and how to reach it. SignalGate's default ports: token API 8080, MQTT 1883,
// MQTTS 8883, WS 8083, WSS 18885; WebSocket listeners answer on `/mqtt` (and `/`).
import type { PageLocation } from './environment.js';

export type Scheme = 'mqtt' | 'mqtts' | 'ws' | 'wss';

/** Seed 004's endpoint. `scheme` also accepts `tcp` (= mqtt) and `tls`/`ssl` (= mqtts). */
export interface Endpoint {
  host: string;
  port?: number;
  username?: string;
  password?: string;
  scheme?: Scheme | 'tcp' | 'tls' | 'ssl';
  path?: string;
}

export const DEFAULT_PORTS: Record<Scheme, number> = { mqtt: 1883, mqtts: 8883, ws: 8083, wss: 18885 };
export const DEFAULT_API_PORT = 8080;
export const DEFAULT_WS_PATH = '/mqtt';

export function normalizeScheme(s: string | undefined): Scheme | undefined {
  if (s === undefined) return undefined;
  const v = s.replace(/:$/, '').toLowerCase();
  if (v === 'tcp') return 'mqtt';
  if (v === 'tls' || v === 'ssl') return 'mqtts';
  if (v === 'mqtt' || v === 'mqtts' || v === 'ws' || v === 'wss') return v;
  throw new Error(`unsupported scheme '${s}' (use mqtt, mqtts, ws or wss)`);
}

const isWebSocket = (s: Scheme) => s === 'ws' || s === 'wss';

/** Scheme, port and path filled in with SignalGate's defaults. */
export function endpointParts(ep: Endpoint, fallbackScheme: Scheme = 'mqtt'): BrokerAddress {
  const scheme = normalizeScheme(ep.scheme) ?? fallbackScheme;
  const path = isWebSocket(scheme) ? (ep.path && ep.path !== '' ? (ep.path.startsWith('/') ? ep.path : `/${ep.path}`) : DEFAULT_WS_PATH) : '';
  return { host: ep.host, port: ep.port ?? DEFAULT_PORTS[scheme], scheme, path };
}

/** The URL mqtt.js connects to. */
export function endpointUrl(ep: Endpoint, fallbackScheme: Scheme = 'mqtt'): string {
  const { scheme, host, port, path } = endpointParts(ep, fallbackScheme);
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${scheme}://${h}:${port}${path}`;
}

export interface AddressInput {
  /** A host name, `host:port`, or a URL (`ws://host:8083/mqtt`, `mqtts://host`, …). */
  host?: string;
  port?: number;
  protocol?: string;
  path?: string;
}

export type BrokerAddress = Required<Pick<Endpoint, 'host' | 'port' | 'path'>> & { scheme: Scheme };

/** Splits `host`, `host:port` or a URL; the scheme and port only when written. */
export function parseHost(input: string): { host: string; port?: number; scheme?: Scheme; path?: string } {
  if (input.includes('://')) {
    // Not WHATWG URL: it drops a port equal to the scheme's web default (ws://h:80 → no port).
    const u = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/?#]+)(?::(\d+))?(\/[^?#]*)?/i.exec(input);
    if (!u) throw new Error(`cannot parse broker URL '${input}'`);
    const scheme = normalizeScheme(u[1]);
    return {
      host: u[2]!.replace(/^\[(.*)\]$/, '$1'),
      ...(u[3] ? { port: Number(u[3]) } : {}),
      ...(scheme ? { scheme } : {}),
      ...(u[4] && u[4] !== '/' ? { path: u[4] } : {}),
    };
  }
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(input);
  if (m) return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
  return { host: input };
}

/**
 * The broker address from what the caller wrote and where the SDK runs. Without a host: the page's
 * host in a browser, else the token service's host, else localhost. Without a scheme: ws (wss on an
 * https page) in a browser, plain MQTT over TCP in Node. Without a port: SignalGate's default for
 * the scheme.
 */
export function resolveBrokerAddress(input: AddressInput, env: { page?: PageLocation; tokenServiceUrl?: string }): BrokerAddress {
  const parsed = input.host ? parseHost(input.host) : undefined;
  const host = parsed?.host ?? env.page?.hostname ?? (env.tokenServiceUrl ? new URL(env.tokenServiceUrl).hostname : undefined) ?? 'localhost';
  const browserDefault: Scheme | undefined = env.page ? (env.page.protocol === 'https:' ? 'wss' : 'ws') : undefined;
  const scheme = normalizeScheme(input.protocol) ?? parsed?.scheme ?? browserDefault ?? 'mqtt';
  const port = input.port ?? parsed?.port ?? DEFAULT_PORTS[scheme];
  const path = input.path ?? parsed?.path ?? (isWebSocket(scheme) ? DEFAULT_WS_PATH : '');
  return { host, port, scheme, path };
}

/** The token service: the page's host (browser) or the broker's host, on port 8080. */
export function defaultTokenServiceUrl(hostInput: string | undefined, page: PageLocation | undefined): string {
  const host = hostInput ? parseHost(hostInput).host : page?.hostname ?? 'localhost';
  const protocol = page?.protocol === 'https:' ? 'https:' : 'http:';
  const h = host.includes(':') ? `[${host}]` : host;
  return `${protocol}//${h}:${DEFAULT_API_PORT}`;
}
