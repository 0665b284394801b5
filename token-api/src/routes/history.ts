// Recent messages of one topic, newest first, from the `history` table the broker fills.
// `history.topic` is the client-visible topic and `org_id` separates tenants, so no internal
// prefix is ever shown. Readable with the org's key, or with a live MQTT credential that has
// `history` and may subscribe to the topic.
import { SignalGateError, topicNameProblem } from '@signalgate/shared';
import { z } from '../http/openapi.js';
import { defineRoute, type RouteDef } from '../http/route.js';
import type { RouteDeps } from '../http/deps.js';

const HistoryQuery = z.object({
  topic: z.string().min(1).max(65535).openapi({ example: 'chat/general/messages' }),
  limit: z.coerce.number().int().min(1).max(1000).optional().openapi({ description: 'Default 50; at most the per-topic bound' }),
});

const HistoryResponse = z
  .object({
    topic: z.string(),
    messages: z.array(z.object({
      id: z.number().int(),
      topic: z.string(),
      payload: z.string().nullable().openapi({ description: 'UTF-8 text, or null when the payload is not valid UTF-8' }),
      payload_base64: z.string(),
      qos: z.number().int(),
      timestamp: z.string(),
    })),
  })
  .openapi('History');

const utf8 = new TextDecoder('utf-8', { fatal: true });
function textOf(payload: Buffer): string | null {
  try {
    return utf8.decode(payload);
  } catch {
    return null;
  }
}

export function historyRoutes({ services, auth }: RouteDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'get', path: '/v2/history', tags: ['history'], security: ['orgKey', 'mqttCredential'],
      summary: 'Recent messages of one topic, newest first',
      authenticate: (req) => auth.reader(req), query: HistoryQuery, response: HistoryResponse, errors: [400, 401, 403],
      async handle({ auth: caller, query }) {
        const problem = topicNameProblem(query.topic);
        if (problem) throw new SignalGateError('invalid_request', `topic: ${problem}`, { field: 'topic' });
        if (caller.kind === 'mqtt' && !caller.rights.canReadHistory(query.topic)) {
          throw new SignalGateError('forbidden', `this credential may not read the history of '${query.topic}' (needs 'history' and subscribe rights)`);
        }
        const messages = (await services.store.history.read(caller.orgId, query.topic, query.limit ?? 50)).map((m) => ({
          id: m.id,
          topic: m.topic,
          payload: textOf(m.payload),
          payload_base64: m.payload.toString('base64'),
          qos: m.qos,
          timestamp: new Date(m.at).toISOString(),
        }));
        return { topic: query.topic, messages };
      },
    }),
  ];
}
