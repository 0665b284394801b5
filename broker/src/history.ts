// Recent messages per topic for the history API. Recording is off the publish hot path: messages
// are buffered and written every flushMs in one transaction (store.history.appendBatch, which also
// trims each topic to SIGNALGATE_HISTORY_PER_TOPIC). The buffer is bounded; overflow is counted.
import type { AedesPublishPacket } from 'aedes';
import { splitInternalTopic, type Logger, type Store } from '@signalgate/shared';
import type { BrokerMetrics } from './metrics.js';

interface Pending {
  orgId: string;
  topic: string;
  payload: Buffer;
  qos: number;
  at: number;
}

export class HistoryRecorder {
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    private readonly enabled: boolean,
    /** Orgs whose messages nobody could read back are not recorded (measured: recording was most of the publish overhead). */
    private readonly wanted: (orgId: string) => boolean = () => true,
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
    const batch = this.buffer;
    this.buffer = [];
    try {
      this.store.history.appendBatch(this.store.db, batch);
    } catch (err) {
      this.metrics.historyDropped.inc(batch.length);
      this.logger.error({ err, messages: batch.length }, 'history write failed; messages not recorded');
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }
}
