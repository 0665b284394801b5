// The four listeners: MQTT over TCP and TLS, and over WebSocket (plain and TLS) on `/` and `/mqtt`.
// WebSockets use ws 8 directly (aedes-server-factory bundles ws 7 with a 100 MiB maxPayload and no
// path check): frames are capped at SIGNALGATE_MAX_PACKET_BYTES and other paths get a 404.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Config, Logger } from '@signalgate/shared';
import type { Protocol } from './context.js';

export const WEBSOCKET_PATHS = new Set(['/', '/mqtt']);

export type Accept = (conn: Duplex, protocol: Protocol, address: string | null, req?: http.IncomingMessage) => void;

export interface Listeners {
  ports: { mqtt?: number; ws?: number; mqtts?: number; wss?: number };
  close(): Promise<void>;
}

interface Closable {
  close(): Promise<void>;
}

function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Stops accepting, drops open sockets (aedes has already closed its clients) and waits. */
function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
    if (server instanceof http.Server) server.closeAllConnections();
  });
}

/** Admits or refuses a new raw socket, and hears when an admitted one closes. */
export interface SocketGate {
  admit(socket: net.Socket): boolean;
  released(socket: net.Socket): void;
}

/**
 * Raw sockets of every connection, handshaking ones included, so close() never waits on a client.
 * A socket the gate refuses (its address is at a limit) is closed before TLS, HTTP or MQTT reads it.
 * One 'close' listener per socket serves both (a listener is ~250 bytes per connection).
 */
function trackSockets(server: net.Server, gate: SocketGate): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  function onClose(this: net.Socket) {
    sockets.delete(this);
    gate.released(this);
  }
  // First, so a refused socket never reaches the TLS, HTTP or MQTT handler registered before.
  server.prependListener('connection', (s: net.Socket) => {
    if (!gate.admit(s)) {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.on('close', onClose);
  });
  return sockets;
}

function mqttServer(protocol: 'mqtt' | 'mqtts', config: Config, logger: Logger, accept: Accept): net.Server {
  const onSocket = (socket: net.Socket) => {
    socket.setNoDelay(true);
    accept(socket, protocol, socket.remoteAddress ?? null);
  };
  if (protocol === 'mqtt') return net.createServer(onSocket);
  const server = tls.createServer({ cert: fs.readFileSync(config.tls!.certPath), key: fs.readFileSync(config.tls!.keyPath) }, onSocket);
  server.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'tls handshake failed'));
  return server;
}

function webSocketServer(protocol: 'ws' | 'wss', config: Config, logger: Logger, accept: Accept): { server: http.Server; wss: WebSocketServer } {
  const notFound = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('MQTT over WebSocket is served on / and /mqtt\n');
  };
  const server = protocol === 'ws'
    ? http.createServer(notFound)
    : https.createServer({ cert: fs.readFileSync(config.tls!.certPath), key: fs.readFileSync(config.tls!.keyPath) }, notFound);
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPacketBytes });
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (!WEBSOCKET_PATHS.has(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      // ws reports oversize or malformed frames on the socket; aedes listens on the stream
      ws.on('error', (err) => logger.debug({ err: err.message }, 'websocket error'));
      accept(stream, protocol, req.socket.remoteAddress ?? null, req);
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  if (protocol === 'wss') server.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'tls handshake failed'));
  return { server, wss };
}

export async function openListeners(config: Config, logger: Logger, accept: Accept, gate: SocketGate): Promise<Listeners> {
  const ports: Listeners['ports'] = {};
  const open: Closable[] = [];
  const tlsOn = config.tls !== undefined;
  try {
    for (const protocol of ['mqtt', 'mqtts'] as const) {
      const port = protocol === 'mqtt' ? config.mqttPort : config.mqttsPort;
      if (port === null || (protocol === 'mqtts' && !tlsOn)) continue;
      const server = mqttServer(protocol, config, logger, accept);
      const sockets = trackSockets(server, gate);
      ports[protocol] = await listen(server, port, config.bind);
      open.push({ close: () => closeServer(server, sockets) });
    }
    for (const protocol of ['ws', 'wss'] as const) {
      const port = protocol === 'ws' ? config.wsPort : config.wssPort;
      if (port === null || (protocol === 'wss' && !tlsOn)) continue;
      const { server, wss } = webSocketServer(protocol, config, logger, accept);
      const sockets = trackSockets(server, gate);
      ports[protocol] = await listen(server, port, config.bind);
      open.push({
        close: async () => {
          for (const ws of wss.clients) ws.terminate();
          wss.close();
          await closeServer(server, sockets);
        },
      });
    }
  } catch (err) {
    await Promise.all(open.map((o) => o.close()));
    throw err;
  }
  for (const [name, port] of Object.entries(ports)) logger.info({ listener: name, bind: config.bind, port }, 'mqtt listener open');
  return { ports, close: async () => void (await Promise.all(open.map((o) => o.close()))) };
}
