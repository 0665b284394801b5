// Who is online in the organisation, from the broker's `sessions` table. Readable with the org's
// key, or with a live MQTT credential holding the `presence` permission.
import { SignalGateError } from '@signalgate/shared';
import { z } from '../http/openapi.js';
import { defineRoute, type RouteDef } from '../http/route.js';
import type { RouteDeps } from '../http/deps.js';

const PresenceResponse = z
  .object({
    organization_id: z.string(),
    count: z.number().int(),
    users: z.array(z.object({
      user_id: z.string(),
      user_ref: z.string(),
      user_email: z.string().nullable(),
      clients: z.array(z.object({ client_id: z.string(), protocol: z.string(), connected_at: z.string() })),
      since: z.string(),
    })),
  })
  .openapi('Presence');

export function presenceRoutes({ services, auth }: RouteDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'get', path: '/v2/presence', tags: ['presence'], security: ['orgKey', 'mqttCredential'],
      summary: 'Users of the organization that are online now, with their connected clients',
      authenticate: (req) => auth.reader(req), response: PresenceResponse, errors: [401, 403],
      handle({ auth: caller }) {
        if (caller.kind === 'mqtt' && !caller.rights.presence) {
          throw new SignalGateError('forbidden', "this credential does not have the 'presence' permission");
        }
        const users = services.sessions.presence(caller.orgId).map((p) => ({
          user_id: p.user.userId,
          user_ref: p.user.userRef,
          user_email: p.user.userEmail,
          clients: p.sessions.map((s) => ({ client_id: s.clientId, protocol: s.protocol, connected_at: new Date(s.connectedAt).toISOString() })),
          since: new Date(p.since).toISOString(),
        }));
        return { organization_id: caller.orgId, count: users.length, users };
      },
    }),
  ];
}
