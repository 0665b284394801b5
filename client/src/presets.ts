// Connection presets (CloudSignal's `preset` option), with the values the official SDK
// (@cloudsignal/mqtt-client 2.2) configures: MQTT 5 everywhere but on phones, where it keeps
// 3.1.1; keepalive and reconnect pacing per kind of client; request/response defaults.

export type PresetName = 'desktop' | 'mobile' | 'agent' | 'server';
/** `auto`: desktop in a browser, mobile in a phone's browser, server elsewhere (Node). */
export type PresetOption = PresetName | 'auto';
/** 4 is MQTT 3.1.1, 5 is MQTT 5.0. */
export type ProtocolVersion = 4 | 5;

export interface ConnectionPreset {
  protocolVersion: ProtocolVersion;
  /** MQTT keepalive, seconds. */
  keepaliveSeconds: number;
  /** Pause between reconnect attempts after a network drop, milliseconds. */
  reconnectPeriodMs: number;
  /** How long to wait for CONNACK, milliseconds. */
  connectTimeoutMs: number;
  /** How long `request()` waits for its reply, milliseconds. */
  requestTimeoutMs: number;
  /** Message Expiry Interval of requests and replies, seconds; none when absent. */
  messageExpirySeconds?: number;
}

export const PRESETS: Record<PresetName, ConnectionPreset> = {
  // Browser tabs.
  desktop: { protocolVersion: 5, keepaliveSeconds: 60, reconnectPeriodMs: 5_000, connectTimeoutMs: 30_000, requestTimeoutMs: 30_000 },
  // Android and iOS: the official SDK stays on 3.1.1 there; radio wake-ups cost battery, so retry gently.
  mobile: { protocolVersion: 4, keepaliveSeconds: 60, reconnectPeriodMs: 10_000, connectTimeoutMs: 30_000, requestTimeoutMs: 30_000 },
  // AI agents and automations: fast failure detection, requests expire after 5 minutes.
  agent: { protocolVersion: 5, keepaliveSeconds: 30, reconnectPeriodMs: 2_000, connectTimeoutMs: 15_000, requestTimeoutMs: 30_000, messageExpirySeconds: 300 },
  // Backend processes.
  server: { protocolVersion: 5, keepaliveSeconds: 30, reconnectPeriodMs: 1_000, connectTimeoutMs: 10_000, requestTimeoutMs: 60_000 },
};

export interface RuntimeHints {
  /** A browser page (window or document exist). */
  browser?: boolean;
  /** navigator.userAgent, when there is one. */
  userAgent?: string;
}

const PHONE_USER_AGENT = /Android|iPhone|iPad|iPod/i;

/** The preset `name` stands for where the SDK runs; `undefined` is `auto`. */
export function resolvePresetName(name: PresetOption | undefined, hints: RuntimeHints): PresetName {
  if (name === undefined || name === 'auto') {
    if (!hints.browser) return 'server';
    return hints.userAgent && PHONE_USER_AGENT.test(hints.userAgent) ? 'mobile' : 'desktop';
  }
  if (!(name in PRESETS)) throw new Error(`unknown preset '${String(name)}' (use auto, ${Object.keys(PRESETS).join(', ')})`);
  return name;
}
