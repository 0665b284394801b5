// PUBLISH: ACL (topic and, for MQTT 5, the response topic), organisation/token limits, then the move
// into the org's namespace.
//
// A refused publish is acknowledged here and never reaches aedes' router or its inbound QoS 2 store:
// the packet is marked `_notAuthorized`, which aedes 2.0.0-beta.1's enqueuePublish
// (lib/handlers/publish.js) takes as "already answered, do not publish". The acknowledgement carries
// PUBLISH_DENIALS' reason code for an MQTT 5 client (PUBACK/PUBREC 0x87, 0x90, 0x97
// [MQTT-3.4.2.1, MQTT-3.5.2.1]); a 3.1.1 client, which has no negative acknowledgement, gets a plain
// one so that it does not resend forever, and its message is dropped. QoS 0 has no acknowledgement:
// the message is dropped. Every refusal is counted and logged. SIGNALGATE_DENIED_PUBLISH=disconnect
// ends the session on an ACL refusal instead (MQTT 5: DISCONNECT 0x87).
import type { Client, PublishPacket } from 'aedes';
import { DROPPED_TOPIC, internalTopic, PUBLISH_DENIALS, topicNameProblem, type EffectiveRights, type OrgLimits, type PublishDenial } from '@signalgate/shared';
import type { BrokerContext } from '../context.js';
import { MAX_CLIENT_TOPIC_LEVELS, topicLevels } from '../context.js';
import { checkPublishLimits } from '../limits.js';
import type { ClientSession } from '../sessions.js';
import { clipped, isLoggedOccurrence } from '@signalgate/shared';
import { sendPacket } from '../wire.js';
import { ownerOf, type WillOwner } from '../willOwner.js';

type Callback = (error?: Error | null) => void;
type RefusablePacket = PublishPacket & { _notAuthorized?: boolean; properties?: { responseTopic?: string } };

const payloadLength = (p: PublishPacket) => (typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length);

export function createAuthorizePublish(ctx: BrokerContext) {
  const { sessions, metrics, logger, config, services } = ctx;

  // One line on the 1st, 2nd, 4th, 8th… refusal of a session: visible, but a loop cannot flood the log.
  const logDenial = (s: ClientSession, topic: string, reason: PublishDenial) => {
    s.deniedPublishes++;
    if (isLoggedOccurrence(s.deniedPublishes)) {
      logger.info({ org: s.orgId, client: s.clientId, user: s.userId, topic: clipped(topic), reason, denied_so_far: s.deniedPublishes }, 'publish denied');
    }
  };

  const refuse = (client: Client, s: ClientSession, packet: RefusablePacket, reason: PublishDenial, cb: Callback) => {
    if (reason === 'acl' || reason === 'response_topic' || reason === 'invalid_topic') metrics.publishesDenied.inc({ reason });
    else metrics.rateLimited.inc({ kind: reason });
    logDenial(s, packet.topic, reason);
    // `_notAuthorized` keeps it out of aedes' router; the topic moves outside every org as well, in
    // case some path of aedes publishes a packet without asking (its will sweep only reads errors).
    packet._notAuthorized = true;
    packet.topic = DROPPED_TOPIC;
    packet.retain = false;
    if ((reason === 'acl' || reason === 'response_topic') && config.deniedPublish === 'disconnect') {
      sessions.end(client, 'denied_publish');
      return cb(null);
    }
    if (packet.qos > 0) {
      const reasonCode = s.protocolVersion === 5 ? PUBLISH_DENIALS[reason] : undefined;
      sendPacket(client, { cmd: packet.qos === 1 ? 'puback' : 'pubrec', messageId: packet.messageId, ...(reasonCode !== undefined ? { reasonCode } : {}) });
    }
    cb(null);
  };

  /**
   * A will: published by aedes after the connection closed (at once, or after an MQTT 5 Will Delay
   * Interval). aedes' publishWill only looks at the error, so a refusal must be one, never the
   * `_notAuthorized` mark; and the rights are those of the token now, not at CONNECT: it may have
   * been revoked or have expired, or the rules narrowed, during the delay. In a cluster, a will of
   * a dead node has no connection any more: its owner comes with it (willOwner.ts). A will the
   * store cannot be asked about is not published (logged): its rights are unknown.
   */
  const authorizeWill = (s: WillOwner | ClientSession, packet: RefusablePacket, cb: Callback): void => {
    services.connect.liveRightsOf(s.tokenId, s.orgId, s.userRef, s.clientId).then((rights) => decideWill(s, packet, rights, cb), (err: unknown) => {
      metrics.publishesDenied.inc({ reason: 'will' });
      logger.warn({ err, org: s.orgId, client: s.clientId, user: s.userId, topic: clipped(packet.topic) }, 'will not published: its rights could not be read');
      cb(new Error('will refused: rights unknown'));
    }).catch((err: unknown) => logger.error({ err, org: s.orgId, client: s.clientId }, 'will authorization failed'));
  };

  const decideWill = (s: WillOwner | ClientSession, packet: RefusablePacket, rights: EffectiveRights | null, cb: Callback): void => {
    const topic = packet.topic;
    const refusal = !rights ? 'revoked' : topicNameProblem(topic) !== null ? 'invalid_topic' : !rights.canPublish(topic) ? 'acl' : null;
    const decided = (refusal: string | null): void => {
      if (refusal !== null) {
        metrics.publishesDenied.inc({ reason: 'will' });
        logger.info({ org: s.orgId, client: s.clientId, user: s.userId, topic: clipped(topic), reason: refusal }, 'will not published');
        return cb(new Error(`will refused: ${refusal}`));
      }
      packet.topic = internalTopic(s.orgId, topic);
      cb(null);
    };
    if (refusal !== null || !packet.retain) return decided(refusal);
    whenSettled(admitRetained(s.orgId, topic, payloadLength(packet)), (fits) => decided(fits ? null : 'retained_quota'), cb);
  };

  /**
   * max_retained_messages / max_retained_bytes: this process's ledger (retainedLedger.ts), or in a
   * cluster the cluster's (cluster/retainedQuota.ts, one Redis round trip). Redis failing to answer
   * lets the message through (logged): retained messages then cannot be stored either. The limits of
   * an org with no session here (a late will) are read first.
   */
  const admitRetained = (orgId: string, topic: string, payloadBytes: number): boolean | Promise<boolean> => {
    const limits = sessions.limitsOf(orgId);
    return limits instanceof Promise ? limits.then((l) => admitWithin(orgId, topic, payloadBytes, l)) : admitWithin(orgId, topic, payloadBytes, limits);
  };

  const admitWithin = (orgId: string, topic: string, payloadBytes: number, limits: OrgLimits | undefined): boolean | Promise<boolean> => {
    if (!limits) return true;
    if (!ctx.clusterRetained) return ctx.retained.admit(orgId, topic, payloadBytes, limits) !== null;
    return ctx.clusterRetained.admit(orgId, topic, payloadBytes, limits).catch((err: unknown) => {
      logger.warn({ err, org: orgId }, 'cluster retained quota not checked');
      return true;
    });
  };

  /** Past the limits: a retained message within its quota, then into the org's namespace. */
  const admitted = (client: Client, s: ClientSession, packet: RefusablePacket, topic: string, payloadBytes: number, cb: Callback): void => {
    const publish = () => {
      ctx.usage.countMessage(s.orgId);
      packet.topic = internalTopic(s.orgId, topic);
      cb(null);
    };
    if (!packet.retain) return publish();
    whenSettled(admitRetained(s.orgId, topic, payloadBytes), (fits) => (fits ? publish() : refuse(client, s, packet, 'retained_quota', cb)), cb);
  };

  return function authorizePublish(client: Client | null, packet: RefusablePacket, cb: Callback): void {
    const s = sessions.get(client);
    if (!client) {
      const owner = ownerOf(packet); // a dead node's will (cluster/wills.ts)
      return owner ? authorizeWill(owner, packet, cb) : cb(new Error('no session'));
    }
    // No session: a will of a client this broker never authenticated. Not a tenant's: never published.
    if (!s) return cb(new Error('no session'));
    // A session the broker ended (expired, revoked…) has no rights left, not even for its will.
    if (s.endReason !== null) return cb(new Error(`session ended: ${s.endReason}`));
    if (client.closed) return authorizeWill(s, packet, cb);

    const topic = packet.topic;
    if (topicNameProblem(topic) !== null || topicLevels(topic) > MAX_CLIENT_TOPIC_LEVELS) return refuse(client, s, packet, 'invalid_topic', cb);
    if (!s.rights.canPublish(topic)) return refuse(client, s, packet, 'acl', cb);
    // A response topic is where the answer to this request will be published by whoever handles it.
    // It must be one the requester itself may receive on: otherwise a requester could make a
    // responder with wider rights publish where the requester may not (a confused deputy). A topic
    // name, so never a `$share/…` form.
    const responseTopic = packet.properties?.responseTopic;
    if (responseTopic !== undefined && (topicNameProblem(responseTopic) !== null || !s.rights.canReceive(responseTopic))) {
      return refuse(client, s, packet, 'response_topic', cb);
    }
    const payloadBytes = payloadLength(packet);
    const limited = checkPublishLimits(sessions, s, Buffer.byteLength(topic) + payloadBytes, payloadBytes, Date.now());
    if (limited === null) return admitted(client, s, packet, topic, payloadBytes, cb);
    if (typeof limited === 'string') return refuse(client, s, packet, limited, cb);
    // In a cluster, this node's credit of a rate ran out: decided once a lease came (cluster/orgRates.ts).
    whenSettled(limited, (kind) => (kind === null ? admitted(client, s, packet, topic, payloadBytes, cb) : refuse(client, s, packet, kind, cb)), cb);
  };
}

/** Runs `then` with a value at once, or with a Promise's once it settles (a cluster's answer); a failure goes to `cb`. */
function whenSettled<T>(value: T | Promise<T>, then: (v: T) => void, cb: Callback): void {
  if (value instanceof Promise) value.then(then, (err: Error) => cb(err));
  else then(value);
}
