// CONNECT: who is this (token check, or a backend's secret key), may they connect now (organisation
// limits), and the session state every later hook reads. Every refusal is a reason of CONNECT_REFUSALS, which gives the 3.1.1
// return code and the MQTT 5 reason code (shared/src/mqtt/reasonCodes.ts).
//
// aedes answers a refusal itself only with a 3.1.1 code 2-5, which it maps to 0x85/0x88/0x86/0x87
// for MQTT 5 (lib/handlers/connect.js authenticate). So an MQTT 5 refusal is written here, with its
// own reason code, and the client closed before aedes' callback runs: aedes then stops ("close()
// happened before authenticate() comes back"), as its own refusals do after their CONNACK.
//
// The credential check reads the store, asynchronously: the socket may close meanwhile (no session
// for a gone client), the store may be unable to answer (`store_unavailable`: "try later", never
// bad credentials, or SDKs would mint again in a loop), and a change of the organisation (a revoke,
// narrowed rules) may be applied meanwhile, which the session about to open would miss: the check
// is then made again (changeMarks.ts), so a token revoked during its own check is refused with 5.
import type { AuthenticateError, Client } from 'aedes';
import {
  CONNECT_REFUSALS, isServerUsername, isWellFormedWireText, KEY_SESSION_NO_EXPIRY, keySessionId, LogSampler, SERVER_USER_ID, SERVER_USER_REF, SignalGateError,
  type ConnectRefusal, type Org, type Rules,
} from '@signalgate/shared';
import type { BrokerContext } from '../context.js';
import { MAX_CLIENT_ID_LENGTH } from '../context.js';
import type { Admission, AedesClient, ClientSession } from '../sessions.js';
import { clipped } from '@signalgate/shared';
import { refuseConnect, sendPacket } from '../wire.js';

type Done = (error: AuthenticateError | null, success: boolean | null) => void;
type Who = Pick<ClientSession, 'userId' | 'userRef' | 'tokenId' | 'expiresAt' | 'rights' | 'server'>;
/** A credential's check: who it admits, of which org, with the default rules it read; or the refusal. */
type Checked = { ok: true; who: Who; org: Org; defaultRules: Rules | undefined } | { ok: false; reason: ConnectRefusal };

/** Checks of one CONNECT while changes of its org keep coming; after the last one the session re-reads its rights on opening. */
const MAX_CHECKS = 3;

export function createAuthenticate(ctx: BrokerContext) {
  const { services, sessions, owners, metrics, logger } = ctx;
  // A database outage refuses every CONNECT: its error is logged on the 1st, 2nd, 4th… of a minute.
  const storeFailures = new LogSampler();

  /** The credential: a user's token (one indexed read), or a backend's secret key (argon2 on a cache miss). */
  const check = async (client: AedesClient, username: string | undefined, password: Buffer | undefined, address: string | null): Promise<Checked> => {
    if (isServerUsername(username)) {
      const verdict = await services.connect.checkServerLogin(username, password, address);
      if (!verdict.ok) return verdict;
      const { key, org, rights, defaultRules } = verdict;
      return {
        ok: true, org, defaultRules,
        who: { userId: SERVER_USER_ID, userRef: SERVER_USER_REF, tokenId: keySessionId(key.id), expiresAt: key.expiresAt ?? KEY_SESSION_NO_EXPIRY, rights, server: true },
      };
    }
    const verdict = await services.connect.checkConnect(username, password, client.id);
    if (!verdict.ok) return verdict;
    const { token, user, org, rights, defaultRules } = verdict;
    return { ok: true, org, defaultRules, who: { userId: user.userId, userRef: user.userRef, tokenId: token.id, expiresAt: token.expiresAt, rights, server: false } };
  };

  /** `check`, made again when a change of the org was applied while it ran; with the mark taken before the last one. */
  const checkCurrent = async (client: AedesClient, username: string | undefined, password: Buffer | undefined, address: string | null): Promise<{ checked: Checked; mark: number }> => {
    for (let attempt = 1; ; attempt++) {
      const mark = sessions.changeMarks.mark();
      const checked = await check(client, username, password, address);
      if (!checked.ok || attempt === MAX_CHECKS || client.closed || !sessions.changeMarks.changedSince(checked.org.id, mark)) return { checked, mark };
    }
  };

  return function authenticate(aedesClient: Client, username: string | undefined, password: Buffer | undefined, done: Done): void {
    const client = aedesClient as AedesClient;
    const conn = sessions.connectionInfo(client);
    const refuse = (reason: ConnectRefusal, extra: object = {}) => {
      const codes = CONNECT_REFUSALS[reason];
      const code = client.version === 5 ? codes.v5 : codes.v3;
      metrics.authFailures.inc({ reason });
      const occurrence = ctx.addresses.refused(conn.address, reason);
      if (occurrence !== null) {
        logger.info({
          reason, connack: code, protocol_version: client.version, username: clipped(username), client: clipped(client.id),
          address: conn.address, protocol: conn.protocol, refused_so_far: occurrence, ...extra,
        }, 'mqtt connect refused');
      }
      const error = Object.assign(new Error(reason), { returnCode: codes.v3 }) as AuthenticateError;
      if (client.version !== 5) return done(error, false);
      refuseConnect(client, code, { reasonString: reason }, () => done(error, false));
    };
    const failed = (err: unknown) => {
      // A store failure must not look like bad credentials (the SDK would re-mint): "try later".
      if (err instanceof SignalGateError && err.code === 'store_unavailable') {
        const occurrence = storeFailures.sample('store', Date.now());
        if (occurrence !== null) logger.warn({ err, failed_so_far: occurrence }, 'mqtt connect refused: the store cannot answer');
        return refuse('store_unavailable');
      }
      // Too many credentials not in the cache are being read at once (ConnectService's miss queue).
      if (err instanceof SignalGateError && err.code === 'server_busy') return refuse('server_busy');
      logger.error({ err }, 'mqtt connect failed');
      refuse('internal_error');
    };
    /** Who was admitted: the client id's checks and its owner (in a cluster, across nodes), then admitHere. */
    const admit = (who: Who, org: Org, admission: Admission): void => {
      const clientId = client.id;
      if (clientId.length > MAX_CLIENT_ID_LENGTH) return refuse('client_id_too_long');
      if (!isWellFormedWireText(clientId)) return refuse('client_id_invalid');
      // Client ids are per organisation: the same id in two orgs is two sessions, and a takeover
      // [MQTT-3.1.4-2] or a persistent session can only ever match within the org.
      const internalId = `${org.id}/${clientId}`;
      if (!owners.mayUse(internalId, who.userRef)) return refuse('client_id_taken', { org: org.id, user: who.userId });
      if (!ctx.holders) return admitHere(who, org, clientId, internalId, admission);
      // In a cluster the id's holder is written first (cluster/holders.ts): a takeover announced by
      // another node then closes this connection only if a later CONNECT holds the id, and an id
      // another user's connection holds, on any node, is refused.
      // max_connections is counted across the cluster too (cluster/orgConnections.ts).
      const { holders, orgConnections } = ctx;
      holders.claim(client, internalId, who.userRef).then(async (claimed) => {
        if (!claimed) return refuse('client_id_taken', { org: org.id, user: who.userId });
        if (!(await orgConnections!.admit(client, org.id, internalId, org.limits.maxConnections))) {
          metrics.rateLimited.inc({ kind: 'connections' });
          return refuse('org_connection_limit', { org: org.id });
        }
        if (client.closed || client.conn.destroyed) return refuse('connection_closed');
        admitHere(who, org, clientId, internalId, admission);
      }).catch(failed);
    };
    /** Limits of this broker, then the session state every later hook reads. */
    const admitHere = (who: Who, org: Org, clientId: string, internalId: string, admission: Admission): void => {
      const limited = sessions.admitConnect(org, internalId, Date.now());
      if (limited !== null) {
        metrics.rateLimited.inc({ kind: limited === 'org_connection_limit' ? 'connections' : 'connect_rate' });
        return refuse(limited, { org: org.id });
      }

      client.id = internalId;
      owners.claim(client, who.userRef, who.tokenId);
      const session: ClientSession = {
        orgId: org.id, ...who, clientId,
        protocol: conn.protocol, protocolVersion: client.version, address: conn.address, connectedAt: sessions.nextConnectedAt(),
        endReason: null, closed: false, deniedPublishes: 0, deniedSubscribes: 0, client, heapIndex: -1,
      };
      sessions.open(client, session, org, admission);
      logger.debug({ org: org.id, user: who.userId, client: clientId, protocol: conn.protocol, protocol_version: client.version }, 'mqtt session opened');
      done(null, true);
    };

    if (client.closed || client.conn.destroyed) return refuse('connection_closed');
    checkCurrent(client, username, password, conn.address).then(({ checked, mark }) => {
      try {
        // The socket may have closed while the credential was checked: no session for a gone client.
        if (client.closed || client.conn.destroyed) return refuse('connection_closed');
        if (!checked.ok) return refuse(checked.reason);
        admit(checked.who, checked.org, { defaultRules: checked.defaultRules, mark });
      } catch (err) {
        failed(err);
      }
    }, failed).catch((err: unknown) => logger.error({ err }, 'mqtt connect failed'));
  };
}

/**
 * A CONNECT of a protocol level other than 3, 4 or 5 is a parse error in mqtt-packet, which aedes
 * answers by closing without a CONNACK. MQTT asks for an answer first: 3.1.1 return code 1
 * [MQTT-3.1.2-2], or, to a client newer than 5, reason code 0x84 in 5's format [MQTT-3.1.2-2 (v5)].
 * Called on the parser's error (packetHooks.ts), before aedes' own handler closes the connection.
 */
export function answerUnsupportedVersion(ctx: BrokerContext, client: Client, packet: { cmd?: string; protocolVersion?: number }, err: Error): void {
  if (err.message !== 'Invalid protocol version' || packet.cmd !== 'connect' || (client as AedesClient).connackSent) return;
  const level = packet.protocolVersion ?? 0;
  const reason: ConnectRefusal = 'unsupported_protocol_version';
  const codes = CONNECT_REFUSALS[reason];
  ctx.metrics.authFailures.inc({ reason });
  ctx.logger.info({ reason, protocol_version: level, ...ctx.sessions.connectionInfo(client) }, 'mqtt connect refused');
  if (level > 5) sendPacket(client, { cmd: 'connack', sessionPresent: false, reasonCode: codes.v5 }, 5);
  else sendPacket(client, { cmd: 'connack', sessionPresent: false, returnCode: codes.v3 }, 4);
}
