// Recent messages per topic for the history API. Recording is off the publish hot path: messages
// are buffered and written every flushMs in one transaction (store.history.appendBatch, which also
// trims each topic to SIGNALGATE_HISTORY_PER_TOPIC). The buffer is bounded; overflow is counted.
// Per organisation, max_history_topics and max_history_bytes bound what is kept: the usage is read
// from the store at most every USAGE_REFRESH_MS and counted up in between (a trimmed topic frees
// bytes only at the next read), and a message past either is not recorded (counted).
//
// Whether an org's messages are recorded at all is decided on the publish path from what the
// session registry keeps in memory; for an org it knows nothing of (no session here: a late will, a
// REST publish) the message is buffered undecided and the org's rules are read before the flush
// writes it. One flush at a time, so the history of a topic is written in the order it was published.
import type { AedesPublishPacket } from 'aedes';
import { splitInternalTopic, type Logger, type OrgLimits, type Store } from '@signalgate/shared';
import type { BrokerMetrics } from './metrics.js';

interface Pending {
  orgId: string;
  topic: string;
  payload: Buffer;
  qos: number;
  at: number;
  /** Published in an org not known here yet: historyWanted decides before it is written. */
  undecided?: true;
}

/** What the recorder asks about an organisation (the session registry answers). */
export interface HistoryOrgs {
  /** Whether its messages are worth recording, when known at once; undefined when it must be read. */
  recordsHistory(orgId: string): boolean | undefined;
  /** The same, read when not known at once. Never rejects. */
  historyWanted(orgId: string): Promise<boolean>;
  /** Its history quotas (none: unbounded); a Promise while they are read. Never rejects. */
  limitsOf(orgId: string): Pick<OrgLimits, 'maxHistoryTopics' | 'maxHistoryBytes'> | undefined | Promise<Pick<OrgLimits, 'maxHistoryTopics' | 'maxHistoryBytes'> | undefined>;
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
  /** The flush under way, if any: a tick meanwhile leaves the buffer for the next one. */
  private flushing: Promise<void> | null = null;
  private readonly usage = new Map<string, OrgUsage>();

  constructor(
    private readonly store: Store,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    private readonly enabled: boolean,
    /** Orgs whose messages nobody could read back are not recorded (measured: recording was most of the publish overhead). */
    private readonly orgs: HistoryOrgs,
    private readonly maxBuffered = 10_000,
    private readonly flushMs = 100,
  ) {}

  start(): void {
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  /** Tenant messages only (not presence, not broker topics, not dropped ones), with the client-visible topic. */
  record(packet: AedesPublishPacket): void {
    if (!this.enabled) return;
    const where = splitInternalTopic(packet.topic);
    if (!where || where.topic.startsWith('$')) return;
    const wanted = this.orgs.recordsHistory(where.orgId);
    if (wanted === false) return;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (packet.retain && payload.length === 0) return; // clears a retained message; not a message
    if (this.buffer.length >= this.maxBuffered) {
      this.metrics.historyDropped.inc();
      return;
    }
    this.buffer.push({ orgId: where.orgId, topic: where.topic, payload, qos: packet.qos, at: Date.now(), ...(wanted === undefined ? { undecided: true as const } : {}) });
  }

  /** Writes what is buffered, unless a flush is under way (its promise then). Never rejects. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.buffer.length === 0) return Promise.resolve();
    const taken = this.buffer;
    this.buffer = [];
    this.flushing = this.write(taken).finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async write(taken: Pending[]): Promise<void> {
    let writing = taken.length;
    try {
      const wanted = await this.wantedOf(taken);
      writing = wanted.length;
      const batch = await this.withinQuotas(wanted);
      writing = batch.length;
      if (batch.length > 0) await this.store.history.appendBatch(batch);
    } catch (err) {
      this.metrics.historyDropped.inc(writing);
      this.logger.error({ err, messages: writing }, 'history write failed; messages not recorded');
    }
  }

  /** The messages of `batch` whose organisation records history, deciding those published undecided. */
  private async wantedOf(batch: Pending[]): Promise<Pending[]> {
    const undecided = [...new Set(batch.filter((m) => m.undecided).map((m) => m.orgId))];
    if (undecided.length === 0) return batch;
    const answers = await Promise.all(undecided.map((orgId) => this.orgs.historyWanted(orgId)));
    const unwanted = new Set(undecided.filter((_, i) => !answers[i]));
    return batch.filter((m) => !m.undecided || !unwanted.has(m.orgId));
  }

  /** The messages of `batch` their organisations' history quotas keep; the others are counted. */
  private async withinQuotas(batch: Pending[]): Promise<Pending[]> {
    const now = Date.now();
    const orgIds = [...new Set(batch.map((m) => m.orgId))];
    const limitsOf = new Map(await Promise.all(orgIds.map(async (orgId) => [orgId, await this.orgs.limitsOf(orgId)] as const)));
    const kept: Pending[] = [];
    for (const m of batch) {
      const limits = limitsOf.get(m.orgId);
      if (!limits || (limits.maxHistoryTopics === null && limits.maxHistoryBytes === null)) {
        kept.push(m);
        continue;
      }
      let u = this.usage.get(m.orgId);
      if (!u || now - u.readAt >= USAGE_REFRESH_MS) {
        this.usage.set(m.orgId, (u = { ...(await this.store.history.usage(m.orgId)), readAt: now, known: new Set() }));
      }
      if (limits.maxHistoryBytes !== null && u.bytes + m.payload.length > limits.maxHistoryBytes) continue;
      if (limits.maxHistoryTopics !== null && !u.known.has(m.topic)) {
        if (!(await this.store.history.hasTopic(m.orgId, m.topic))) {
          if (u.topics >= limits.maxHistoryTopics) continue;
          u.topics++;
        }
        // bounded by the quota: only topics inside it are remembered
        u.known.add(m.topic);
      }
      u.bytes += m.payload.length;
      kept.push(m);
    }
    if (kept.length < batch.length) this.metrics.historyDropped.inc(batch.length - kept.length);
    if (this.usage.size > 10_000) this.usage.clear();
    return kept;
  }

  /** Stops the timer and writes what is left; resolves once written (or given up). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.flushing) await this.flushing;
    await this.flush();
  }
}
