// Retained messages per organisation (max_retained_messages, max_retained_bytes): aedes keeps every
// retained message in memory with no bound, so one tenant could pin the broker's memory (500
// retained 1 MB messages: +520 MB with no client connected). The ledger mirrors what aedes keeps for
// each org (topic → bytes of topic and payload), starting empty as aedes' memory store does, and
// admits a retained PUBLISH only within the org's quota. An empty payload clears the topic, as in
// aedes. A retained message that expires (MQTT 5 Message Expiry) is still counted until its topic
// is cleared or replaced. In a cluster the count is the cluster's (cluster/retainedQuota.ts, the
// same rules in Redis); this ledger then only serves the REST publisher of the node.
import type { OrgLimits } from '@signalgate/shared';

interface OrgRetained {
  count: number;
  bytes: number;
  topics: Map<string, number>;
}

export class RetainedLedger {
  private readonly orgs = new Map<string, OrgRetained>();

  /**
   * Whether a retained message on `topic` (client-visible) with `payloadBytes` fits `limits`;
   * when it does it is recorded, and the returned function takes it back (for a bulk refused whole).
   */
  admit(orgId: string, topic: string, payloadBytes: number, limits: Pick<OrgLimits, 'maxRetainedMessages' | 'maxRetainedBytes'>): (() => void) | null {
    let org = this.orgs.get(orgId);
    if (!org) this.orgs.set(orgId, (org = { count: 0, bytes: 0, topics: new Map() }));
    const before = org.topics.get(topic);
    const size = payloadBytes === 0 ? undefined : Buffer.byteLength(topic) + payloadBytes;
    const count = org.count + (before === undefined ? 0 : -1) + (size === undefined ? 0 : 1);
    const bytes = org.bytes - (before ?? 0) + (size ?? 0);
    // Clearing or shrinking always fits; growing must stay within both quotas.
    const grows = count > org.count || bytes > org.bytes;
    if (grows && ((limits.maxRetainedMessages !== null && count > limits.maxRetainedMessages) || (limits.maxRetainedBytes !== null && bytes > limits.maxRetainedBytes))) {
      return null;
    }
    const apply = (c: number, b: number, s: number | undefined) => {
      org.count = c;
      org.bytes = b;
      if (s === undefined) org.topics.delete(topic);
      else org.topics.set(topic, s);
    };
    const previous = { count: org.count, bytes: org.bytes };
    apply(count, bytes, size);
    return () => apply(previous.count, previous.bytes, before);
  }

  usage(orgId: string): { count: number; bytes: number } {
    const org = this.orgs.get(orgId);
    return { count: org?.count ?? 0, bytes: org?.bytes ?? 0 };
  }
}
