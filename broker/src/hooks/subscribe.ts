// SUBSCRIBE: each filter is granted only if every topic it can match is allowed
// (EffectiveRights.canSubscribe); a refused filter gets 0x80 (MQTT 5: 0x87) in the SUBACK and the
// connection and the other filters of the packet carry on.
//
// Every filter of a packet is decided as the parser emits it, before aedes handles any: aedes
// persists the packet's whole filter list for a persistent session as soon as one filter is granted
// (lib/handlers/subscribe.js storeSubscriptions), so a filter not yet decided would be stored raw,
// outside any org namespace, where `#` matches every organisation's topics and their messages would
// be queued for that session. Granted filters move into the org's namespace; refused ones move under
// REFUSED_FILTER, which authorizeSubscribe then refuses. authorizeSubscribe also re-checks the
// filters aedes restores from a persistent session against the rights of the new connection.
//
// Shared subscriptions `$share/<group>/<filter>` (3.1.1 and 5) are decided as their filter and held
// like any other subscription, inside the namespace; authorizeSubscribe makes the client a member of
// its group (sharedGroups.ts), which delivers each message to one member.
import type { Client, Subscription } from 'aedes';
import { clientTopic, filterProblem, internalTopic, parseSharedFilter, REFUSED_FILTER, SUBSCRIBE_QUOTA } from '@signalgate/shared';
import type { BrokerContext } from '../context.js';
import { MAX_CLIENT_TOPIC_LEVELS, topicLevels } from '../context.js';
import { grantedFilters, heldFilters } from '../grantedQos.js';
import { clipped, isLoggedOccurrence } from '@signalgate/shared';
import { forgetStoredSubscriptions } from '../storedSubscriptions.js';
import { subackCode, subackLayout } from '../wireCorrections.js';
import type { ClientSession } from '../sessions.js';

type Callback = (error: Error | null, subscription?: Subscription | null) => void;

export interface SubscribePacket {
  cmd: 'subscribe';
  messageId?: number;
  subscriptions?: { topic: string; nl?: boolean }[];
}

/** One line on the 1st, 2nd, 4th, 8th… refused filter of a session. */
function logRefusal(ctx: BrokerContext, s: ClientSession, filter: string): void {
  s.deniedSubscribes++;
  if (!isLoggedOccurrence(s.deniedSubscribes)) return;
  ctx.logger.info({ org: s.orgId, client: s.clientId, user: s.userId, filter: clipped(filter), denied_so_far: s.deniedSubscribes }, 'subscription denied');
}

/** Decides every filter of a SUBSCRIBE as the parser emits it, before aedes handles it (packetHooks.ts). */
export function decideSubscribe(ctx: BrokerContext, client: Client, packet: SubscribePacket, s: ClientSession): void {
  const { metrics } = ctx;
  // A packet of more filters than SIGNALGATE_MAX_FILTERS_PER_PACKET ends the session before any is
  // looked at (one 840 KB SUBSCRIBE once stalled every tenant for up to 2 s).
  if (tooManyFilters(ctx, client, packet.subscriptions?.length ?? 0)) {
    packet.subscriptions = (packet.subscriptions ?? []).slice(0, 1).map((sub) => ({ ...sub, topic: `${REFUSED_FILTER}/0` }));
    return;
  }
  // max_subscriptions_per_connection: filters this connection holds (aedes' map) and new ones this
  // packet adds; a filter past it is refused (MQTT 5: SUBACK 0x97), the others of the packet stand.
  const max = ctx.sessions.orgLimits(s.orgId)?.limits.maxSubscriptionsPerConnection ?? null;
  const holding = heldFilters(client);
  (packet.subscriptions ?? []).forEach((sub, i) => {
    // A malformed filter stays malformed, so aedes still ends the connection for it, but inside
    // SignalGate's own root, where it can match nothing.
    const shared = parseSharedFilter(sub.topic);
    if (filterProblem(sub.topic) !== null || (shared !== null && 'problem' in shared)) {
      sub.topic = `${REFUSED_FILTER}/#/malformed`;
      return;
    }
    // [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
    if (shared !== null && s.protocolVersion === 5 && sub.nl) {
      sub.topic = `${REFUSED_FILTER}/${i}`;
      ctx.sessions.end(client, 'protocol_error');
      return;
    }
    if (topicLevels(sub.topic) <= MAX_CLIENT_TOPIC_LEVELS && s.endReason === null && s.rights.canSubscribe(sub.topic)) {
      const internal = internalTopic(s.orgId, sub.topic);
      if (max !== null && !holding.has(internal) && holding.size >= max) {
        metrics.rateLimited.inc({ kind: 'subscriptions' });
        logRefusal(ctx, s, sub.topic);
        if (s.protocolVersion === 5 && packet.messageId !== undefined) subackCode(client, packet.messageId, i, SUBSCRIBE_QUOTA.v5);
        sub.topic = `${REFUSED_FILTER}/${i}`;
        return;
      }
      holding.add(internal);
      sub.topic = internal;
      return;
    }
    metrics.subscriptionsDenied.inc();
    logRefusal(ctx, s, sub.topic);
    // one per position: aedes merges identical filters of a packet, and the SUBACK needs every code
    sub.topic = `${REFUSED_FILTER}/${i}`;
  });
  // A granted filter named twice is merged by aedes too: its SUBACK gets the code back per filter.
  if (packet.messageId !== undefined) subackLayout(client, packet.messageId, (packet.subscriptions ?? []).map((sub) => sub.topic));
}

export function createAuthorizeSubscribe(ctx: BrokerContext) {
  const { sessions, shared, metrics, logger } = ctx;

  return function authorizeSubscribe(client: Client, sub: Subscription, cb: Callback): void {
    const s = sessions.get(client);
    if (!s || s.endReason !== null) return cb(null, null);
    // Filters reach this hook internal: decided by decideSubscribe, or restored from a persistent
    // session (in the form they were stored), which the rights of this connection must still cover.
    const visible = clientTopic(s.orgId, sub.topic);
    const forget = () => forgetStoredSubscriptions(client, [sub.topic], (err) => logger.warn({ err, client: s.clientId }, 'could not remove a stored subscription'));
    // Refused by decideSubscribe (aedes stores a packet's refused filters beside its granted ones),
    // or not this org's: nothing to restore, nothing to keep stored.
    if (visible === null) {
      forget();
      return cb(null, null);
    }
    if (!s.rights.canSubscribe(visible)) {
      metrics.subscriptionsDenied.inc();
      logger.info({ org: s.orgId, client: s.clientId, user: s.userId, filter: clipped(visible) }, 'restored subscription denied');
      forget();
      sub.topic = REFUSED_FILTER;
      return cb(null, null);
    }
    heldFilters(client).add(sub.topic); // (a restored one counts as well)
    const sharedFilter = shared.join(client, s.orgId, visible);
    grantedFilters(client).granted(sub.topic, sub.qos, sharedFilter ?? sub.topic);
    cb(null, sub);
  };
}

/** SIGNALGATE_MAX_FILTERS_PER_PACKET exceeded: the session ends (quota exceeded); true when it does. */
export function tooManyFilters(ctx: BrokerContext, client: Client, filters: number): boolean {
  if (filters <= ctx.config.maxFiltersPerPacket) return false;
  ctx.metrics.rateLimited.inc({ kind: 'filters_per_packet' });
  ctx.sessions.end(client, 'quota_exceeded');
  return true;
}
