// What SignalGate does with each packet as the parser emits it, before aedes handles it:
// - MQTT 5: a packet whose properties are malformed or not allowed (shared/src/mqtt/properties.ts)
//   goes no further. The connection ends: a CONNECT is answered with CONNACK 0x81/0x82, a later
//   packet with DISCONNECT 0x81/0x82 [MQTT-4.13.1].
// - SUBSCRIBE and UNSUBSCRIBE have their filters moved into the org's namespace (hooks/subscribe.ts,
//   hooks/unsubscribe.ts). Packets that arrive before authentication completes wait in aedes' queue
//   until 'connected' (lib/client.js enqueue/dequeue) and are rewritten just before aedes handles them.
// - A CONNECT of a protocol level other than 3, 4 or 5 is a parse error in mqtt-packet, which aedes
//   answers by closing without a CONNACK; MQTT asks for an answer first (hooks/connect.ts).
// One listener of each kind serves every connection, with the per-connection state in a WeakMap:
// a closure per connection and hook cost about a kilobyte per idle connection.
import type { Client } from 'aedes';
import { packetPropertyViolation, SESSION_ENDS } from '@signalgate/shared';
import type { BrokerContext } from './context.js';
import { answerUnsupportedVersion } from './hooks/connect.js';
import { decideSubscribe, type SubscribePacket } from './hooks/subscribe.js';
import { rewriteUnsubscribe, type UnsubscribePacket } from './hooks/unsubscribe.js';
import { refuseConnect } from './wire.js';
import type { ClientSession } from './sessions.js';

type Packet = { cmd: string; protocolVersion?: number; properties?: Record<string, unknown>; will?: { properties?: Record<string, unknown> } | null };
type Listener = (this: Parser, p: Packet) => void;
type ErrorListener = (this: Parser, err: Error) => void;
type Parser = {
  packet: Packet;
  listeners(event: 'packet'): Listener[];
  listeners(event: 'error'): ErrorListener[];
  removeAllListeners(event: 'packet' | 'error'): void;
  on(event: 'packet', fn: Listener): void;
  on(event: 'error', fn: ErrorListener): void;
};

interface Hooked {
  ctx: BrokerContext;
  client: Client;
  /**
   * aedes' own 'packet' and 'error' listeners (one each, in aedes 2), called after ours: taking
   * their place instead of adding a second listener keeps the parser's listener slots single
   * functions, not arrays (about 110 bytes of every idle connection).
   */
  downstream: Listener | Listener[];
  errorDownstream: ErrorListener | ErrorListener[];
  /** From the CONNECT, not client.version: packets sent right behind the CONNECT are parsed before aedes has read it. */
  version: number | undefined;
  refused: boolean;
  /** SUBSCRIBE/UNSUBSCRIBE parsed before the session exists, rewritten at 'connected'. */
  pending: Packet[] | undefined;
}

const hooked = new WeakMap<object, Hooked>();
const parserOf = (client: Client) => (client as unknown as { _parser: Parser })._parser;

/** Installs the hooks on a new connection; last, after aedes' own parser listeners exist. */
export function hookPackets(ctx: BrokerContext, client: Client): void {
  const parser = parserOf(client);
  const packetListeners = parser.listeners('packet');
  const errorListeners = parser.listeners('error');
  parser.removeAllListeners('packet');
  parser.removeAllListeners('error');
  hooked.set(parser, {
    ctx, client, version: undefined, refused: false, pending: undefined,
    downstream: packetListeners.length === 1 ? packetListeners[0]! : packetListeners,
    errorDownstream: errorListeners.length === 1 ? errorListeners[0]! : errorListeners,
  });
  parser.on('packet', onPacket);
  parser.on('error', onParserError);
}

function onPacket(this: Parser, packet: Packet): void {
  const h = hooked.get(this)!;
  if (h.refused) return;
  if (packet.cmd === 'connect' && h.version === undefined) h.version = packet.protocolVersion;
  const violation = h.version === 5 ? packetPropertyViolation(packet) : null;
  if (violation !== null) return refuse(h, packet, violation);
  if (packet.cmd === 'subscribe' || packet.cmd === 'unsubscribe') {
    const s = h.ctx.sessions.get(h.client);
    if (s) rewrite(h, packet, s);
    else if ((h.pending ??= []).push(packet) === 1) h.client.prependOnceListener('connected', onConnected);
  }
  if (typeof h.downstream === 'function') h.downstream.call(this, packet);
  else for (const fn of h.downstream) fn.call(this, packet);
}

function onConnected(this: Client): void {
  const h = hooked.get(parserOf(this));
  const s = h && h.ctx.sessions.get(h.client);
  if (!h?.pending || !s) return;
  for (const p of h.pending.splice(0)) rewrite(h, p, s);
}

function rewrite(h: Hooked, packet: Packet, s: ClientSession): void {
  if (packet.cmd === 'subscribe') decideSubscribe(h.ctx, h.client, packet as unknown as SubscribePacket, s);
  else rewriteUnsubscribe(h.ctx, h.client, packet as unknown as UnsubscribePacket, s);
}

function refuse(h: Hooked, packet: Packet, violation: ReturnType<typeof packetPropertyViolation> & string): void {
  const { ctx, client } = h;
  h.refused = true;
  ctx.metrics.clientErrors.inc({ stage: violation });
  const s = ctx.sessions.get(client);
  ctx.logger.info({ reason: violation, packet: packet.cmd, org: s?.orgId, client: s?.clientId, ...ctx.sessions.connectionInfo(client) }, 'mqtt packet refused');
  if (s) return ctx.sessions.end(client, violation);
  if (packet.cmd === 'connect') return refuseConnect(client, SESSION_ENDS[violation]);
  setImmediate(() => client.close());
}

function onParserError(this: Parser, err: Error): void {
  const h = hooked.get(this)!;
  answerUnsupportedVersion(h.ctx, h.client, this.packet, err);
  if (typeof h.errorDownstream === 'function') h.errorDownstream.call(this, err);
  else for (const fn of h.errorDownstream) fn.call(this, err);
}
