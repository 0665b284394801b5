// Turns the brokers' usage rows into an evenly spaced series for the chart: per bucket, the
// connections of every broker (its last sample in the bucket) added up, and messages per second.
// Buckets without a row are zero: a broker writes a row only while an org is active.
import type { UsageSample } from '@signalgate/shared';

export interface UsagePoint {
  at: number;
  connections: number;
  messagesPerSecond: number;
}

/** At most this many points, whatever the window and sampling interval. */
export const MAX_POINTS = 360;

export function usageSeries(samples: readonly UsageSample[], from: number, to: number, sampleMs: number): { bucketMs: number; points: UsagePoint[] } {
  const span = Math.max(1, to - from);
  const bucketMs = Math.max(sampleMs, Math.ceil(span / MAX_POINTS / sampleMs) * sampleMs);
  const first = Math.floor(from / bucketMs);
  const count = Math.floor(to / bucketMs) - first + 1;
  const lastPerBroker: Map<string, UsageSample>[] = Array.from({ length: count }, () => new Map());
  const messages = new Array<number>(count).fill(0);
  for (const s of samples) {
    const i = Math.floor(s.at / bucketMs) - first;
    if (i < 0 || i >= count) continue;
    messages[i]! += s.messages;
    const prev = lastPerBroker[i]!.get(s.brokerId);
    if (!prev || prev.at <= s.at) lastPerBroker[i]!.set(s.brokerId, s);
  }
  const points: UsagePoint[] = [];
  for (let i = 0; i < count; i++) {
    let connections = 0;
    for (const s of lastPerBroker[i]!.values()) connections += s.connections;
    points.push({ at: (first + i) * bucketMs, connections, messagesPerSecond: messages[i]! / (bucketMs / 1000) });
  }
  return { bucketMs, points };
}
