// Recent messages per topic for the history API. Recording is off the publish hot path: messages
// are buffered and written every flushMs in one transaction (store.history.appendBatch, which also
// trims each topic to SIGNALGATE_HISTORY_PER_TOPIC). The buffer is bounded; overflow is counted.
// Per organisation, max_history_topics and max_history_bytes bound what is kept: the usage is read
// from the store at most every USAGE_REFRESH_MS and counted up in between (a trimmed topic frees
// bytes only at the next read), and a message past either is not recorded (counted).
import type { AedesPublishPacket } from 'aedes';
import { splitInternalTopic, type Logger, type OrgLimits, type Store } from '@signalgate/shared';
import type { BrokerMetrics } from './metrics.js';

interface Pending {
  orgId: string;
  topic: string;
  payload: Buffer;
  qos: number;
  at: number;
}

const USAGE_REFRESH_MS = 10_000;

interface OrgUsage {
  topics: number;
  bytes: number;
  readAt: number;
  /** Topics known to be in the history since the last read (they cost no new topic). */
  known: Set<string>;
}

export class HistoryRecorder {
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly usage = new Map<string, OrgUsage>();

  constructor(
    private readonly store: Store,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    private readonly enabled: boolean,
    /** Orgs whose messages nobody could read back are not recorded (measured: recording was most of the publish overhead). */
    private readonly wanted: (orgId: string) => boolean = () => true,
    /** The org's history quotas (none: unbounded). */
    private readonly limitsOf: (orgId: string) => Pick<OrgLimits, 'maxHistoryTopics' | 'maxHistoryBytes'> | undefined = () => undefined,
    private readonly maxBuffered = 10_000,
    private readonly flushMs = 100,
  ) {}

  start(): void {
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(() => this.flush(), this.flushMs);
    this.timer.unref();
  }

  /** Tenant messages only (not presence, not broker topics, not dropped ones), with the client-visible topic. */
  record(packet: AedesPublishPacket): void {
    if (!this.enabled) return;
    const where = splitInternalTopic(packet.topic);
    if (!where || where.topic.startsWith('$') || !this.wanted(where.orgId)) return;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (packet.retain && payload.length === 0) return; // clears a retained message; not a message
    if (this.buffer.length >= this.maxBuffered) {
      this.metrics.historyDropped.inc();
      return;
    }
    this.buffer.push({ orgId: where.orgId, topic: where.topic, payload, qos: packet.qos, at: Date.now() });
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    const batch = this.withinQuotas(this.buffer);
    this.buffer = [];
    try {
      this.store.history.appendBatch(this.store.db, batch);
    } catch (err) {
      this.metrics.historyDropped.inc(batch.length);
      this.logger.error({ err, messages: batch.length }, 'history write failed; messages not recorded');
    }
  }

  /** The messages of `batch` their organisations' history quotas keep; the others are counted. */
  private withinQuotas(batch: Pending[]): Pending[] {
    const now = Date.now();
    const kept = batch.filter((m) => {
      const limits = this.limitsOf(m.orgId);
      if (!limits || (limits.maxHistoryTopics === null && limits.maxHistoryBytes === null)) return true;
      let u = this.usage.get(m.orgId);
      if (!u || now - u.readAt >= USAGE_REFRESH_MS) {
        this.usage.set(m.orgId, (u = { ...this.store.history.usage(m.orgId), readAt: now, known: new Set() }));
      }
      if (limits.maxHistoryBytes !== null && u.bytes + m.payload.length > limits.maxHistoryBytes) return false;
      if (limits.maxHistoryTopics !== null && !u.known.has(m.topic)) {
        if (!this.store.history.hasTopic(m.orgId, m.topic)) {
          if (u.topics >= limits.maxHistoryTopics) return false;
          u.topics++;
        }
        // bounded by the quota: only topics inside it are remembered
        u.known.add(m.topic);
      }
      u.bytes += m.payload.length;
      return true;
    });
    if (kept.length < batch.length) this.metrics.historyDropped.inc(batch.length - kept.length);
    if (this.usage.size > 10_000) this.usage.clear();
    return kept;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }
}
