// CONNECT: who is this (token check), may they connect now (org connection limit), and the
// session state every later hook reads. CONNACK codes: 4 unknown/mismatched credentials, 5 expired
// or revoked (seed 004's SDK fetches fresh credentials on 5), 2 over-long client id, 3 at the
// organisation's connection limit — "server unavailable" rather than 5, so that SDKs back off and
// retry instead of minting new tokens in a loop (the limit is per broker process).
import type { AuthenticateError, Client } from 'aedes';
import type { BrokerContext } from '../context.js';
import { MAX_CLIENT_ID_LENGTH } from '../context.js';
import type { AedesClient, ClientSession } from '../sessions.js';

type Done = (error: AuthenticateError | null, success: boolean | null) => void;

const refusal = (returnCode: 2 | 3 | 4 | 5, message: string): AuthenticateError =>
  Object.assign(new Error(message), { returnCode }) as AuthenticateError;

export function createAuthenticate(ctx: BrokerContext) {
  const { services, sessions, metrics, logger } = ctx;

  return function authenticate(aedesClient: Client, username: string | undefined, password: Buffer | undefined, done: Done): void {
    const client = aedesClient as AedesClient;
    const conn = sessions.connectionInfo(client);
    const refuse = (code: 2 | 3 | 4 | 5, reason: string, extra: object = {}) => {
      metrics.authFailures.inc({ reason });
      logger.info({ reason, connack: code, username, client: client.id, address: conn.address, protocol: conn.protocol, ...extra }, 'mqtt connect refused');
      done(refusal(code, reason), false);
    };
    try {
      if (client.closed || client.conn.destroyed) return refuse(3, 'connection_closed');
      const clientId = client.id;
      const verdict = services.tokens.checkConnect(username, password, clientId);
      if (!verdict.ok) return refuse(verdict.returnCode, verdict.reason);
      const { token, user, org, rights } = verdict;
      if (clientId.length > MAX_CLIENT_ID_LENGTH) return refuse(2, 'client_id_too_long');
      // Client ids are per organisation: the same id in two orgs is two sessions, and a takeover
      // (MQTT-3.1.4-2) or a persistent session can only ever match within the org.
      const internalId = `${org.id}/${clientId}`;
      const max = org.limits.maxConnections;
      if (max !== null && sessions.connectionsOf(org.id, internalId) >= max) {
        metrics.rateLimited.inc({ kind: 'connections' });
        return refuse(3, 'org_connection_limit', { org: org.id, limit: max });
      }

      client.id = internalId;
      const session: ClientSession = {
        orgId: org.id, userId: user.userId, userRef: user.userRef, tokenId: token.id, clientId,
        protocol: conn.protocol, address: conn.address, connectedAt: sessions.nextConnectedAt(), expiresAt: token.expiresAt,
        rights,
        endReason: null, closed: false, deniedPublishes: 0, expiryTimer: null,
      };
      sessions.open(client, session, org);
      logger.debug({ org: org.id, user: user.userId, client: clientId, protocol: conn.protocol }, 'mqtt session opened');
      done(null, true);
    } catch (err) {
      // A store failure must not look like bad credentials (the SDK would re-mint): 3, try later.
      logger.error({ err }, 'mqtt connect failed');
      refuse(3, 'internal_error');
    }
  };
}
