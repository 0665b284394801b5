// Who is online in the organisation, from the broker's `sessions` table. Readable with the org's
// key, or with a live MQTT credential holding the `presence` permission. An end user (MQTT
// credential) sees who is online and since when, but e-mails and client ids only for themselves: a
// client id names a session (kicks, takeovers) and an e-mail is personal data. A backend holding
// the org key sees everything and can pass on what its users may see.
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
      user_email: z.string().nullable().openapi({ description: "null for other users when an end user's credential asks" }),
      clients: z.array(z.object({
        client_id: z.string().optional().openapi({ description: "left out for other users when an end user's credential asks" }),
        protocol: z.string(),
        connected_at: z.string(),
      })),
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
      async handle({ auth: caller }) {
        if (caller.kind === 'mqtt' && !caller.rights.presence) {
          throw new SignalGateError('forbidden', "this credential does not have the 'presence' permission");
        }
        const users = (await services.sessions.presence(caller.orgId)).map((p) => {
          const details = caller.kind === 'org' || p.user.userRef === caller.user.userRef;
          return {
            user_id: p.user.userId,
            user_ref: p.user.userRef,
            user_email: details ? p.user.userEmail : null,
            clients: p.sessions.map((s) => ({
              ...(details ? { client_id: s.clientId } : {}),
              protocol: s.protocol,
              connected_at: new Date(s.connectedAt).toISOString(),
            })),
            since: new Date(p.since).toISOString(),
          };
        });
        return { organization_id: caller.orgId, count: users.length, users };
      },
    }),
  ];
}
