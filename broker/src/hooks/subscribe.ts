// SUBSCRIBE: each filter is granted only if every topic it can match is allowed
// (EffectiveRights.canSubscribe); a refused filter gets 0x80 in the SUBACK via cb(null, null) and
// the connection and the other filters of the packet carry on. A granted filter is moved into the
// org's namespace in place: aedes persists `packet.subscriptions` for non-clean sessions, so what
// it stores is the internal filter.
import type { Client, Subscription } from 'aedes';
import { clientTopic, DROPPED_TOPIC, internalTopic } from '@signalgate/shared';
import type { BrokerContext } from '../context.js';
import { MAX_CLIENT_TOPIC_LEVELS, topicLevels } from '../context.js';
import type { AedesClient } from '../sessions.js';

type Callback = (error: Error | null, subscription?: Subscription | null) => void;

export function createAuthorizeSubscribe(ctx: BrokerContext) {
  const { sessions, metrics, logger } = ctx;

  return function authorizeSubscribe(aedesClient: Client, sub: Subscription, cb: Callback): void {
    const client = aedesClient as AedesClient;
    const s = sessions.get(client);
    if (!s || s.endReason !== null) return cb(null, null);

    // Before CONNACK the only subscriptions aedes handles are those it restores from a persistent
    // session (lib/handlers/connect.js restoreSubs; wire SUBSCRIBEs wait for CONNACK in
    // lib/client.js enqueue). They were stored in internal form, and are re-checked against the
    // rights of this connection.
    const visible = client.connackSent ? sub.topic : clientTopic(s.orgId, sub.topic);
    if (visible === null || topicLevels(visible) > MAX_CLIENT_TOPIC_LEVELS || !s.rights.canSubscribe(visible)) {
      metrics.subscriptionsDenied.inc();
      logger.info({ org: s.orgId, client: s.clientId, user: s.userId, filter: visible ?? sub.topic }, 'subscription denied');
      // so that a persisted copy of a refused filter can never be restored as granted
      sub.topic = DROPPED_TOPIC;
      return cb(null, null);
    }
    sub.topic = internalTopic(s.orgId, visible);
    cb(null, sub);
  };
}
