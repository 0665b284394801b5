// PUBLISH: ACL, organisation/token limits, then the move into the org's namespace.
//
// Denied publishes are dropped by default, and dropping is deliberate design because aedes has no
// "refuse quietly" verdict: an error from authorizePublish ends the connection
// (lib/handlers/publish.js runs [authorizePublish, enqueuePublish] in series and hands the error
// to the client), and MQTT 3.1.1 has no negative PUBACK. So a denied packet is rewritten to
// DROPPED_TOPIC with retain=false and allowed: enqueuePublish still answers PUBACK (QoS 1) or
// PUBREC (QoS 2) — a client that waited for its ack would otherwise resend forever — and
// broker.publish emits it into a topic outside every org's namespace, where no subscription can
// exist and nothing is retained. SIGNALGATE_DENIED_PUBLISH=disconnect turns ACL denials into
// closing the connection instead. Limits (rate, size) always drop.
import type { Client, PublishPacket } from 'aedes';
import { DROPPED_TOPIC, internalTopic, topicNameProblem } from '@signalgate/shared';
import type { BrokerContext } from '../context.js';
import { MAX_CLIENT_TOPIC_LEVELS, topicLevels } from '../context.js';
import { checkPublishLimits } from '../limits.js';
import type { ClientSession } from '../sessions.js';

type Callback = (error?: Error | null) => void;

export function createAuthorizePublish(ctx: BrokerContext) {
  const { sessions, metrics, logger, config } = ctx;

  const drop = (packet: PublishPacket, cb: Callback) => {
    packet.topic = DROPPED_TOPIC;
    packet.retain = false;
    cb(null);
  };

  // One line on the 1st, 2nd, 4th, 8th… denial of a session: visible, but a loop cannot flood the log.
  const logDenial = (s: ClientSession, topic: string, reason: string) => {
    s.deniedPublishes++;
    if ((s.deniedPublishes & (s.deniedPublishes - 1)) === 0) {
      logger.info({ org: s.orgId, client: s.clientId, user: s.userId, topic, reason, denied_so_far: s.deniedPublishes }, 'publish denied');
    }
  };

  return function authorizePublish(client: Client | null, packet: PublishPacket, cb: Callback): void {
    const s = sessions.get(client);
    // No session: a will replayed for a client this broker never authenticated. Not a tenant's.
    if (!s) return drop(packet, cb);
    // A session the broker ended (expired, revoked…) has no rights left, not even for its will.
    if (s.endReason !== null) return cb(new Error(`session ended: ${s.endReason}`));

    const topic = packet.topic;
    if (topicNameProblem(topic) !== null || topicLevels(topic) > MAX_CLIENT_TOPIC_LEVELS) {
      metrics.publishesDenied.inc({ reason: 'invalid_topic' });
      logDenial(s, topic, 'invalid_topic');
      return drop(packet, cb);
    }
    if (!s.rights.canPublish(topic)) {
      metrics.publishesDenied.inc({ reason: 'acl' });
      logDenial(s, topic, 'acl');
      if (config.deniedPublish === 'disconnect') {
        s.endReason = 'denied_publish';
        return cb(new Error(`publish to '${topic}' not authorized`));
      }
      return drop(packet, cb);
    }
    const payloadBytes = typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length;
    const limited = checkPublishLimits(sessions, s, Buffer.byteLength(topic) + payloadBytes, payloadBytes, Date.now());
    if (limited !== null) {
      metrics.rateLimited.inc({ kind: limited });
      logDenial(s, topic, limited);
      return drop(packet, cb);
    }
    ctx.usage.countMessage(s.orgId);
    packet.topic = internalTopic(s.orgId, topic);
    cb(null);
  };
}
