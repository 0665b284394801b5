// The broker's end of the REST publisher: messages an API in this process accepted go into aedes
// as server publishes (no client, so no authorizePublish: the API decided), inside the
// organisation's namespace. Each subscriber still passes authorizeForward (its own rights, QoS cap).
import type { Aedes, Client, PublishPacket } from 'aedes';
import { SignalGateError, internalTopic, topicMatchesFilter, type OutgoingMessage, type PublishChannel } from '@signalgate/shared';
import type { SessionRegistry } from './sessions.js';
import type { SharedGroups } from './sharedGroups.js';
import type { RetainedLedger } from './retainedLedger.js';

type SubscribedClient = Client & { subscriptions?: Record<string, unknown> };

export function createServerPublisher(aedes: Aedes, sessions: SessionRegistry, shared: SharedGroups, retained: RetainedLedger): PublishChannel {
  /**
   * Connected clients of the org with a subscription matching `topic` (a client with two matching
   * filters counts once; sessions kept for offline clients are not counted), and each shared
   * subscription group that takes the message as one (its members' `$share/…` subscriptions match
   * no topic themselves). A scan of the org's
   * clients: the REST publisher is rate limited per key, and aedes' own index holds QoS > 0 only.
   */
  const subscribersOf = (orgId: string, topic: string) => {
    let n = 0;
    for (const c of sessions.clientsOfOrg(orgId) as SubscribedClient[]) {
      if (Object.keys(c.subscriptions ?? {}).some((f) => topicMatchesFilter(f, topic))) n++;
    }
    return n + shared.receivingGroups(orgId, topic);
  };
  const publishOne = (packet: PublishPacket) =>
    new Promise<void>((resolve, reject) => aedes.publish(packet, (err?: Error) => (err ? reject(err) : resolve())));

  /**
   * The organisation's message and byte rates (max_messages_per_second, max_bytes_per_second) apply
   * to REST messages as to its clients': a request that would exceed them is refused whole (429).
   * They are kept per broker for the orgs with a session here; an org with none has no one to
   * deliver to on this broker either.
   */
  const chargeOrgLimits = (orgId: string, messages: readonly OutgoingMessage[]) => {
    const org = sessions.orgLimits(orgId);
    if (!org) return;
    const now = Date.now();
    const bytes = messages.reduce((n, m) => n + Buffer.byteLength(m.topic) + m.payload.length, 0);
    if ((org.messages && org.messages.available(now) < messages.length) || (org.bytes && org.bytes.available(now) < bytes)) {
      throw new SignalGateError('rate_limited', "the organization's message rate (max_messages_per_second, max_bytes_per_second) is used up", { retryAfterSeconds: 1 });
    }
    org.messages?.take(messages.length, now);
    org.bytes?.take(bytes, now);
  };

  /**
   * Retained messages of the request within max_retained_messages / max_retained_bytes, all or none:
   * a request with one that does not fit is refused whole (403 quota_exceeded).
   */
  const admitRetained = async (orgId: string, messages: readonly OutgoingMessage[]): Promise<(() => void)[]> => {
    const limits = await sessions.limitsOf(orgId);
    const undo: (() => void)[] = [];
    if (!limits) return undo;
    for (const m of messages) {
      if (!m.retain) continue;
      const taken = retained.admit(orgId, m.topic, m.payload.length, limits);
      if (taken === null) {
        for (const u of undo.reverse()) u();
        throw new SignalGateError('quota_exceeded', `retaining on '${m.topic.slice(0, 200)}' would exceed the organization's max_retained_messages or max_retained_bytes`);
      }
      undo.push(taken);
    }
    return undo;
  };

  return {
    async publish(orgId: string, messages: readonly OutgoingMessage[]) {
      const undo = await admitRetained(orgId, messages);
      try {
        chargeOrgLimits(orgId, messages);
      } catch (err) {
        for (const u of undo.reverse()) u(); // refused for the rate: nothing of it is kept
        throw err;
      }
      const results: { subscribers: number }[] = [];
      for (const m of messages) {
        const topic = internalTopic(orgId, m.topic);
        const subscribers = subscribersOf(orgId, topic);
        await publishOne({ cmd: 'publish', topic, payload: m.payload, qos: m.qos, retain: m.retain, dup: false } as PublishPacket);
        results.push({ subscribers });
      }
      return results;
    },
  };
}
