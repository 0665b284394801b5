// The REST publisher (CloudSignal's rest-publisher, same routes): a backend publishes into its
// organisation's topic space with its secret key. The topic is checked against the organisation's
// default rule set (placeholders grant nothing: no user), the payload against its size limit; the
// broker of this process delivers, or one on the same data dir (PublishChannel).
import {
  MAX_CLIENT_TOPIC_LEVELS, SignalGateError, reservedRootOf, topicLevels, topicNameProblem,
  type EffectiveRights, type Org, type OutgoingMessage,
} from '@signalgate/shared';
import { z } from '../http/openapi.js';
import { defineRoute, type RouteDef } from '../http/route.js';
import type { RouteDeps } from '../http/deps.js';
import { PublishLimits } from '../http/publishLimits.js';
import { RemotePublishChannel } from '../http/remotePublisher.js';

/** Messages per bulk request: validated all first, published in order. */
export const MAX_BULK_MESSAGES = 100;

const PublishMessage = z.object({
  topic: z.string().max(65535).openapi({ example: '$notifications/user-123/inbox/orders' }),
  payload: z.unknown().openapi({ description: 'Any JSON value (delivered as its JSON text), or {"base64": "…"} for bytes' }),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).optional().openapi({ description: 'Default 1' }),
  retain: z.boolean().optional(),
}).openapi('PublishMessage');
const PublishBulkRequest = z.array(PublishMessage).min(1).max(MAX_BULK_MESSAGES).openapi('PublishBulkRequest');
const Published = z.object({ delivered: z.literal(true), topic: z.string(), subscribers: z.number().int() }).openapi('Published');
const PublishedBulk = z.object({ delivered: z.number().int(), results: z.array(Published) }).openapi('PublishedBulk');

type Message = z.infer<typeof PublishMessage>;

/** The bytes a payload stands for: `{"base64": …}` decoded, anything else as its JSON text. */
function payloadBytes(payload: unknown, field: string): Buffer {
  if (payload === undefined) throw new SignalGateError('invalid_request', `${field}: required (any JSON value)`, { field });
  if (payload !== null && typeof payload === 'object' && !Array.isArray(payload) && Object.keys(payload).length === 1 && 'base64' in payload) {
    const b64 = (payload as { base64: unknown }).base64;
    if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64)) {
      throw new SignalGateError('invalid_request', `${field}.base64: must be base64 text`, { field: `${field}.base64` });
    }
    return Buffer.from(b64, 'base64');
  }
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

/** Checks one message as the broker would check a client's PUBLISH of the org's default rights. */
function outgoing(m: Message, field: string, rights: EffectiveRights, org: Org, maxPacketBytes: number): OutgoingMessage {
  const problem = topicNameProblem(m.topic) ?? (topicLevels(m.topic) > MAX_CLIENT_TOPIC_LEVELS ? `more than ${MAX_CLIENT_TOPIC_LEVELS} levels` : null);
  if (problem) throw new SignalGateError('invalid_request', `${field}.topic: ${problem}`, { field: `${field}.topic` });
  if (!rights.canPublish(m.topic)) {
    const why = reservedRootOf(m.topic) !== null ? 'is reserved' : "is outside the organization's default rule set";
    throw new SignalGateError('forbidden', `topic '${m.topic.slice(0, 200)}' ${why}`);
  }
  const payload = payloadBytes(m.payload, `${field}.payload`);
  const limit = Math.min(org.limits.maxPayloadBytes ?? Infinity, maxPacketBytes);
  if (payload.length > limit) throw new SignalGateError('payload_too_large', `${field}.payload: ${payload.length} bytes is more than the ${limit} allowed`);
  // The whole PUBLISH must fit the broker's packet limit, as a client's must (topic, its length,
  // the message id, a fixed header of up to 5 bytes and an empty MQTT 5 property section).
  const packetBytes = Buffer.byteLength(m.topic) + payload.length + 10;
  if (packetBytes > maxPacketBytes) {
    throw new SignalGateError('payload_too_large', `${field}: topic and payload make a ${packetBytes}-byte packet, more than SIGNALGATE_MAX_PACKET_BYTES (${maxPacketBytes})`);
  }
  return { topic: m.topic, payload, qos: m.qos ?? 1, retain: m.retain ?? false };
}

export function publishRoutes({ services, auth, config, publisher }: RouteDeps): RouteDef[] {
  const limits = new PublishLimits(config.publishRatePerKey, config.publishBurstPerKey);
  const errors = [400, 401, 403, 413, 415, 429, 503];

  // The broker of this process when there is one, else a broker on the same data dir.
  const remote = new RemotePublishChannel(config.dataDir);
  const publish = (orgId: string, messages: OutgoingMessage[]) => (publisher.current ?? remote).publish(orgId, messages);

  return [
    defineRoute({
      method: 'post', path: '/v1/publish', tags: ['publish'], security: ['orgKey'],
      summary: "Publish one message into the organization's topic space (the REST publisher)",
      authenticate: (req) => auth.orgKey(req), body: PublishMessage, response: Published, errors,
      async handle({ auth: key, body, res }) {
        limits.take(key.apiKeyId, 1, res);
        const org = await services.orgs.get(key.orgId);
        // What a backend may do: the rights of a server@ MQTT session (default rules, no placeholder values).
        const message = outgoing(body, 'body', await services.connect.serverRightsOf(org.id), org, config.maxPacketBytes);
        const [result] = await publish(org.id, [message]);
        return { delivered: true as const, topic: message.topic, subscribers: result!.subscribers };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/publish/bulk', tags: ['publish'], security: ['orgKey'],
      summary: `Publish up to ${MAX_BULK_MESSAGES} messages in order; all are validated before any is published`,
      authenticate: (req) => auth.orgKey(req), body: PublishBulkRequest, response: PublishedBulk, errors,
      async handle({ auth: key, body, res }) {
        limits.take(key.apiKeyId, body.length, res);
        const org = await services.orgs.get(key.orgId);
        const rights = await services.connect.serverRightsOf(org.id);
        const messages = body.map((m, i) => outgoing(m, `[${i}]`, rights, org, config.maxPacketBytes));
        const results = await publish(org.id, messages);
        return { delivered: messages.length, results: messages.map((m, i) => ({ delivered: true as const, topic: m.topic, subscribers: results[i]!.subscribers })) };
      },
    }),
  ];
}
