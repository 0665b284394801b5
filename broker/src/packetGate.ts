// Every parsed packet of an MQTT 5 connection passes here before SignalGate's rewrites and aedes
// see it: one whose properties are malformed or not allowed (shared/src/mqtt/properties.ts) goes
// no further. The connection ends: a CONNECT is answered with CONNACK 0x81/0x82, a later packet with
// DISCONNECT 0x81/0x82 [MQTT-4.13.1]. The gate takes the parser's 'packet' listeners installed
// so far (aedes' own and ours) and calls them itself, so it must be installed last.
import type { Client } from 'aedes';
import { packetPropertyViolation, SESSION_ENDS } from '@signalgate/shared';
import type { BrokerContext } from './context.js';
import { refuseConnect } from './wire.js';

type Packet = { cmd: string; protocolVersion?: number; properties?: Record<string, unknown>; will?: { properties?: Record<string, unknown> } | null };
type Parser = {
  listeners(event: 'packet'): ((p: Packet) => void)[];
  removeAllListeners(event: 'packet'): void;
  on(event: 'packet', fn: (p: Packet) => void): void;
};

export function gatePackets(ctx: BrokerContext, client: Client): void {
  const parser = (client as unknown as { _parser: Parser })._parser;
  const downstream = parser.listeners('packet');
  parser.removeAllListeners('packet');
  let refused = false;
  // From the CONNECT, not client.version: packets sent right behind the CONNECT are parsed before
  // aedes has read it.
  let version: number | undefined;
  parser.on('packet', (packet) => {
    if (refused) return;
    if (packet.cmd === 'connect' && version === undefined) version = packet.protocolVersion;
    const v5 = version === 5;
    const violation = v5 ? packetPropertyViolation(packet) : null;
    if (violation === null) {
      for (const fn of downstream) fn.call(parser, packet);
      return;
    }
    refused = true;
    ctx.metrics.clientErrors.inc({ stage: violation });
    const s = ctx.sessions.get(client);
    ctx.logger.info({ reason: violation, packet: packet.cmd, org: s?.orgId, client: s?.clientId, ...ctx.sessions.connectionInfo(client) }, 'mqtt packet refused');
    if (s) return ctx.sessions.end(client, violation);
    if (packet.cmd === 'connect') return refuseConnect(client, SESSION_ENDS[violation]);
    setImmediate(() => client.close());
  });
}
