// The broker: create Aedes, install our hooks, open the listeners. Policy (rights, namespacing,
// buckets) lives in @signalgate/shared; each hook is one file under hooks/.
import type { EventEmitter } from 'node:events';
import { Aedes } from 'aedes';
import type { Config, Logger, PublishChannel, Services } from '@signalgate/shared';
import type { BrokerContext } from './context.js';
import { brokerMetrics } from './metrics.js';
import { isDeadBroker, newBrokerId, releaseBrokerId } from './brokerIdentity.js';
import { SessionRegistry } from './sessions.js';
import { SharedGroups } from './sharedGroups.js';
import { correctPacketsOf } from './wireCorrections.js';
import { SessionOwners } from './sessionOwners.js';
import { AddressLimits } from './addressLimits.js';
import { RetainedLedger } from './retainedLedger.js';
import { installQueueQuota } from './queueQuota.js';
import { PresencePublisher } from './presence.js';
import { HistoryRecorder } from './history.js';
import { ChangeWatcher } from './changes.js';
import { UsageSampler } from './usage.js';
import { openListeners, type Accept } from './listeners.js';
import { hardenClient, installAedesFixes } from './aedesFixes.js';
import { hookPackets } from './packetHooks.js';
import { onClientClosed } from './clientClosed.js';
import { createAuthenticate } from './hooks/connect.js';
import { createAuthorizePublish } from './hooks/publish.js';
import { createAuthorizeSubscribe } from './hooks/subscribe.js';
import { createAuthorizeForward } from './hooks/forward.js';
import { createPublished } from './hooks/published.js';
import { createServerPublisher } from './serverPublish.js';
import { openPublishEndpoint } from './publishEndpoint.js';
import { MAX_CLIENT_ID_LENGTH } from './context.js';

/** How long a closing broker waits for its clients to take their DISCONNECT before dropping the sockets. */
const SHUTDOWN_GRACE_MS = 2000;

export interface BrokerOptions {
  config: Config;
  services: Services;
  logger: Logger;
}

export interface BrokerHandle {
  /** Ports actually bound, per listener that is on (config port 0 picks a free one). */
  ports: { mqtt?: number; ws?: number; mqtts?: number; wss?: number };
  /** Unique per start; the broker_id of this broker's rows in the sessions table. */
  brokerId: string;
  /** The aedes instance, for embedding and for tests that inspect its persistence. */
  aedes: Aedes;
  /** Where the REST publisher of an API in this process hands its messages. */
  publisher: PublishChannel;
  close(): Promise<void>;
}

export { brokerMetrics } from './metrics.js';

export async function startBroker({ config, services, logger: parentLogger }: BrokerOptions): Promise<BrokerHandle> {
  const logger = parentLogger.child({ component: 'broker' });
  const brokerId = newBrokerId();
  const metrics = brokerMetrics();
  // (The closures read `sessions` when a presence change or a shared message comes, after all exist.)
  const presence: PresencePublisher = new PresencePublisher(logger, metrics, (orgId: string): boolean => sessions.publishesPresence(orgId));
  const shared: SharedGroups = new SharedGroups((client) => sessions.get(client), metrics);
  const owners: SessionOwners = new SessionOwners(
    config.maxStoredSessions,
    async (orgId, stored) => (await services.connect.liveRightsOfOrg(orgId, stored)).rights,
    (client): string | undefined => sessions.get(client)?.userRef,
  );
  const sessions = new SessionRegistry(services, brokerId, metrics, logger, presence, shared, owners);
  const usage = new UsageSampler(services.store, sessions, brokerId, logger, config.usageSampleMs);
  const addresses = new AddressLimits(config.maxConnectionsPerIp, config.connectRefusalsPerIp);
  const retained = new RetainedLedger();
  // With SIGNALGATE_REDIS_URL the message bus and the persistence are Redis (loaded only then).
  const cluster = config.redisUrl ? (await import('./cluster/redisBackends.js')).redisBackends(config.redisUrl, config.clusterHeartbeatMs, brokerId, logger) : null;
  try {
    await cluster?.ready();
  } catch (err) {
    await cluster?.close();
    throw err;
  }
  // The cluster's rates, retained quota and gauges, before any client and before the first beat.
  const clusterLimits = cluster ? (await import('./cluster/clusterLimits.js')).clusterLimits(cluster, sessions, metrics, logger) : null;
  const ctx: BrokerContext = {
    config, services, logger, metrics, brokerId, sessions, shared, owners, addresses, retained, usage, holders: cluster?.holders ?? null,
    orgConnections: cluster?.connections ?? null, nodes: cluster?.nodes ?? null, clusterRetained: clusterLimits?.retained ?? null,
  };
  const history = new HistoryRecorder(services.store, metrics, logger, config.historyPerTopic > 0, sessions);
  // Followed from here on, before any client: a change made from now on reaches every session.
  const changes = new ChangeWatcher(services.store, services.changes, sessions, owners, logger, config.changePollMs);
  await changes.start();

  // Rows left by brokers that died without closing (kill -9, crash) would show ghosts as online.
  for (const id of await services.store.sessions.brokerIds()) if (isDeadBroker(id)) await services.store.sessions.clearBroker(id);
  const aedes = await Aedes.createBroker({
    id: brokerId,
    ...(cluster ? { mq: cluster.mq as never, persistence: cluster.persistence as never } : {}),
    connectTimeout: config.connectTimeoutSeconds * 1000,
    maxClientsIdLength: MAX_CLIENT_ID_LENGTH,
    // MQTT 5 limits, announced in every CONNACK. The packet size is checked by aedes as soon as a
    // packet's declared length is parsed (lib/client.js nextBatch), for every protocol level, so a
    // CONNECT announcing 256 MB is refused before its body is buffered; an MQTT 5 client that is
    // connected gets DISCONNECT 0x95.
    maximumPacketSize: config.maxPacketBytes,
    receiveMaximum: config.receiveMaximum,
    topicAliasMaximum: config.topicAliasMaximum,
    sessionExpiryIntervalLimit: config.maxSessionExpirySeconds,
    pendingSessionsLimit: config.maxStoredSessions,
    authenticate: createAuthenticate(ctx),
    authorizePublish: createAuthorizePublish(ctx),
    authorizeSubscribe: createAuthorizeSubscribe(ctx),
    authorizeForward: createAuthorizeForward(ctx),
    published: createPublished(history),
  });
  await onClientClosed(aedes, (client) => {
    sessions.closed(client);
    cluster?.connections.released(client);
    cluster?.holders.released(client);
  });
  cluster?.attach(aedes, {
    sessionOf: (client) => sessions.get(client) ?? null,
    expired: (clientId) => owners.expiredInCluster(clientId),
    offline: (subject) => presence.offline(subject),
  });
  installAedesFixes(aedes, config.receiveMaximum);
  installQueueQuota(aedes, (orgId) => sessions.limitsOf(orgId), metrics);
  presence.attach(aedes, cluster?.presence ?? null);
  shared.attach(aedes, cluster?.shares ?? null);
  owners.attach(aedes);

  // Malformed input ends that one connection (aedes destroys it); these only count and log.
  aedes.on('clientError', (client, err) => {
    metrics.clientErrors.inc({ stage: 'session' });
    logger.debug({ client: sessions.get(client)?.clientId ?? client.id, err: err.message }, 'mqtt client error');
  });
  aedes.on('connectionError', (_client, err) => {
    metrics.clientErrors.inc({ stage: 'connect' });
    logger.debug({ err: err.message }, 'mqtt connection error before CONNECT');
  });
  (aedes as EventEmitter).on('error', (err: Error) => logger.error({ err }, 'broker error'));

  const accept: Accept = (conn, protocol, address, req) => {
    sessions.setConnectionInfo(conn, { protocol, address });
    const client = aedes.handle(conn, req);
    hardenClient(client);
    correctPacketsOf(client); // CONNACK announces shared subscriptions; SUBACK says 0x97 for a quota
    hookPackets(ctx, client); // last: it takes over aedes' packet listeners
  };

  let listeners;
  try {
    listeners = await openListeners(config, logger, accept, {
      admit: (socket) => {
        if (addresses.admit(socket)) return true;
        metrics.clientErrors.inc({ stage: 'address_limit' });
        return false;
      },
      released: (socket) => addresses.released(socket),
    });
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await cluster?.close();
    await changes.stop();
    throw err;
  }
  const publisher = createServerPublisher(aedes, sessions, shared, retained);
  // What an API accepted (SIGNALGATE_API_BODY_LIMIT), re-encoded: payloads travel as base64 (4/3),
  // topics as the same JSON text, with a few bytes of framing per message of a bulk of 100.
  const publishEndpoint = await openPublishEndpoint(config.dataDir, brokerId, publisher, Math.ceil(config.apiBodyLimit * 1.4) + 100 * 128 + 65_536, logger);
  history.start();
  usage.start();
  logger.info({ broker_id: brokerId, ports: listeners.ports }, 'broker started');

  let closing: Promise<void> | null = null;
  return {
    ports: listeners.ports,
    brokerId,
    aedes,
    publisher,
    close: () =>
      (closing ??= (async () => {
        const watcherStopped = changes.stop();
        const rowsStopped = sessions.beginShutdown();
        // aedes first: it tells each MQTT 5 client why (DISCONNECT 0x8B) before the sockets go. A
        // client that does not read could hold that write until aedes' drain timeout (60 s), so the
        // sockets are destroyed after a short grace whatever is left.
        const aedesClosed = new Promise<void>((resolve) => aedes.close(() => resolve()));
        await Promise.race([aedesClosed, new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref())]);
        // The REST endpoint goes with the listeners, after the clients were told.
        await Promise.all([listeners.close(), publishEndpoint.close()]);
        // In a cluster aedes' close waits for Redis (its message bus and persistence say goodbye to
        // it): with Redis down that is for ever, so the wait is bounded and the connections cut.
        await (cluster ? Promise.race([aedesClosed, new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref())]) : aedesClosed);
        await cluster?.close();
        // The last writes, then this broker's rows go (after any flush of them: none lands later).
        await Promise.all([watcherStopped, rowsStopped, history.stop(), usage.stop()]);
        try {
          await services.store.sessions.clearBroker(brokerId);
        } catch (err) {
          // The next broker to start clears them (isDeadBroker).
          logger.warn({ err, broker_id: brokerId }, "could not clear this broker's session rows");
        }
        releaseBrokerId(brokerId);
        logger.info({ broker_id: brokerId }, 'broker stopped');
      })()),
  };
}
