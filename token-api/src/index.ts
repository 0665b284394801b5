// Contract used by the CLI (`signalgate start`) and the cross-service tests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionsPerAddress, localUrlHost, type Config, type Logger, type PublishChannelHolder, type Services } from '@signalgate/shared';
import { createApp } from './app.js';
import { redisReadiness } from './http/redisReadiness.js';

export { createApp, API_VERSION, type TokenApiApp, type AppOptions } from './app.js';

export interface TokenApiOptions {
  config: Config;
  services: Services;
  logger: Logger;
  /** The broker of this process, for the REST publisher (set when it has started; absent: none). */
  publisher?: PublishChannelHolder;
}

export interface TokenApiHandle {
  server: http.Server;
  /** The port actually bound (config port 0 picks a free one). */
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Grace period for in-flight requests on close before connections are cut. */
const CLOSE_GRACE_MS = 2000;
/** Retention (services/retention.ts): a first purge shortly after start, then every hour. */
const FIRST_PURGE_MS = 30_000;
const PURGE_EVERY_MS = 3600_000;

export async function startTokenApi({ config, services, logger, publisher }: TokenApiOptions): Promise<TokenApiHandle> {
  if (config.apiPort === null) throw new Error('the token API port is "off" (SIGNALGATE_API_PORT)');
  const log = logger.child({ component: 'token-api' });
  // A configured admin key is (re)hashed into the store, so the API accepts it even when started alone.
  if (config.adminKey !== undefined) await services.admin.ensure(config.adminKey);

  // The change feed drops revoked or rotated keys and credentials from this process's caches
  // (shared with a broker in the same process; started once).
  await services.changes.start(config.changePollMs, (err, message) => log.warn({ err }, message));
  const redis = config.redisUrl ? redisReadiness(config.redisUrl) : null;
  const { app } = createApp({ config, services, logger: log, redis, ...(publisher ? { publisher } : {}) });
  const server = http.createServer(app);
  // Sockets per client address (SIGNALGATE_MAX_CONNECTIONS_PER_IP): idle ones must not use up the
  // process's file descriptors. Checked on the raw socket, before HTTP reads a byte.
  const perAddress = new ConnectionsPerAddress(config.maxConnectionsPerIp);
  server.prependListener('connection', (socket) => {
    if (!perAddress.admit(socket)) return socket.destroy();
    socket.on('close', () => perAddress.released(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.apiPort!, config.bind, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${localUrlHost(config.bind)}:${port}`;
  log.info({ url }, 'token API listening');

  const purge = async () => {
    try {
      const counts = await services.retention.purge();
      if (Object.values(counts).some((n) => n > 0)) log.info({ purged: counts, retention: services.retention.settings }, 'retention purge');
    } catch (err) {
      log.error({ err }, 'retention purge failed');
    }
  };
  let purgeTimer: NodeJS.Timeout = setTimeout(function again() {
    void purge();
    purgeTimer = setTimeout(again, PURGE_EVERY_MS).unref();
  }, FIRST_PURGE_MS).unref();

  return {
    server,
    port,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        clearTimeout(purgeTimer);
        services.changes.stop();
        void redis?.close();
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      }),
  };
}
