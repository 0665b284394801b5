// Which MQTT 5 properties a packet from a client may carry, and whether the ones it carries are
// well formed [MQTT-2.2.2]. mqtt-packet 9 parses a property whose length runs past the packet as
// null, and a property given twice as an array, without an error; aedes then trips over either
// (a null response topic throws in its publish handler and ends the process; an array of session
// expiry intervals throws in its timer; a null content type makes every v5 subscriber's write fail).
// Pure: the broker's packet gate applies the verdict.

type PropertyName = string;
const set = (...names: PropertyName[]) => new Set(names);

/** Properties a client may send, per packet type (MQTT 5 §2.2.2.2's table, client-to-server columns). */
const ALLOWED: Record<string, ReadonlySet<PropertyName>> = {
  connect: set('sessionExpiryInterval', 'receiveMaximum', 'maximumPacketSize', 'topicAliasMaximum', 'requestResponseInformation',
    'requestProblemInformation', 'userProperties', 'authenticationMethod', 'authenticationData'),
  publish: set('payloadFormatIndicator', 'messageExpiryInterval', 'topicAlias', 'responseTopic', 'correlationData', 'userProperties', 'contentType'),
  puback: set('reasonString', 'userProperties'),
  pubrec: set('reasonString', 'userProperties'),
  pubrel: set('reasonString', 'userProperties'),
  pubcomp: set('reasonString', 'userProperties'),
  subscribe: set('subscriptionIdentifier', 'userProperties'),
  unsubscribe: set('userProperties'),
  disconnect: set('sessionExpiryInterval', 'reasonString', 'userProperties'),
  auth: set('authenticationMethod', 'authenticationData', 'reasonString', 'userProperties'),
};
const WILL_ALLOWED = set('willDelayInterval', 'payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties');

/** Properties that must not be zero when present [MQTT-3.1.2-22, §3.1.2.11.4]. */
const NOT_ZERO = set('receiveMaximum', 'maximumPacketSize');

export type PropertyViolation = 'malformed_packet' | 'protocol_error';

function propertiesViolation(properties: Record<string, unknown> | undefined, allowed: ReadonlySet<PropertyName> | undefined): PropertyViolation | null {
  if (properties === undefined) return null;
  for (const name of Object.keys(properties)) {
    const value = properties[name];
    if (value === null || value === undefined) return 'malformed_packet'; // length past the packet
    if (!allowed?.has(name)) return 'protocol_error';
    if (name === 'userProperties') {
      for (const v of Object.values(value as Record<string, unknown>)) {
        const values = Array.isArray(v) ? v : [v];
        if (values.some((x) => typeof x !== 'string')) return 'malformed_packet';
      }
      continue;
    }
    if (Array.isArray(value)) return 'protocol_error'; // only user properties may repeat
    if (NOT_ZERO.has(name) && value === 0) return 'protocol_error';
  }
  return null;
}

/** What is wrong with the MQTT 5 properties of a packet a client sent, or null. */
export function packetPropertyViolation(packet: { cmd: string; properties?: Record<string, unknown>; will?: { properties?: Record<string, unknown> } | null }): PropertyViolation | null {
  return propertiesViolation(packet.properties, ALLOWED[packet.cmd])
    ?? (packet.cmd === 'connect' && packet.will ? propertiesViolation(packet.will.properties, WILL_ALLOWED) : null);
}
