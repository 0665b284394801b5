// Connection presets (CloudSignal's `preset` option): keepalive and reconnect pacing per kind of client.

export type PresetName = 'desktop' | 'mobile' | 'server';

export interface ConnectionTiming {
  /** MQTT keepalive, seconds. */
  keepaliveSeconds: number;
  /** Pause between reconnect attempts after a network drop, milliseconds. */
  reconnectPeriodMs: number;
  /** How long to wait for CONNACK, milliseconds. */
  connectTimeoutMs: number;
}

export const PRESETS: Record<PresetName, ConnectionTiming> = {
  // A browser tab on a stable network: notice a dead link within ~1.5 min, come back quickly.
  desktop: { keepaliveSeconds: 60, reconnectPeriodMs: 2_000, connectTimeoutMs: 10_000 },
  // Radio wake-ups cost battery: ping rarely, retry gently, allow slow handshakes.
  mobile: { keepaliveSeconds: 120, reconnectPeriodMs: 5_000, connectTimeoutMs: 20_000 },
  // A backend process: detect failure fast and reconnect at once.
  server: { keepaliveSeconds: 30, reconnectPeriodMs: 1_000, connectTimeoutMs: 10_000 },
};

export function presetTiming(name: string | undefined, fallback: PresetName): ConnectionTiming {
  if (name === undefined) return PRESETS[fallback];
  if (!(name in PRESETS)) throw new Error(`unknown preset '${name}' (use ${Object.keys(PRESETS).join(', ')})`);
  return PRESETS[name as PresetName];
}
