// The MQTT 5 property check the broker's packet gate applies: what a client may send, per packet.
import { describe, expect, test } from '@jest/globals';
import { packetPropertyViolation } from '@signalgate/shared';

describe('packetPropertyViolation', () => {
  test.each([
    ['a PUBLISH with the request/response properties', { cmd: 'publish', properties: { responseTopic: 'r/1', correlationData: Buffer.from('c'), userProperties: { a: 'b', multi: ['x', 'y'] }, contentType: 'json', payloadFormatIndicator: true, messageExpiryInterval: 300, topicAlias: 1 } }],
    ['a CONNECT with its properties and a will with its own', { cmd: 'connect', properties: { sessionExpiryInterval: 60, receiveMaximum: 10, maximumPacketSize: 1024 }, will: { properties: { willDelayInterval: 5, contentType: 'text/plain' } } }],
    ['a SUBSCRIBE with a subscription identifier', { cmd: 'subscribe', properties: { subscriptionIdentifier: 7 } }],
    ['a DISCONNECT with a session expiry', { cmd: 'disconnect', properties: { sessionExpiryInterval: 0 } }],
    ['a packet without properties', { cmd: 'pingreq' }],
  ])('accepts %s', (_name, packet) => {
    expect(packetPropertyViolation(packet)).toBeNull();
  });

  test.each([
    ['a property whose length ran past the packet (parsed as null)', { cmd: 'publish', properties: { responseTopic: null } }, 'malformed_packet'],
    ['a user property value that ran past the packet', { cmd: 'publish', properties: { userProperties: { k: null } } }, 'malformed_packet'],
    ['a will property that ran past the packet', { cmd: 'connect', will: { properties: { contentType: null } } }, 'malformed_packet'],
    ['a property given twice', { cmd: 'connect', properties: { sessionExpiryInterval: [10, 20] } }, 'protocol_error'],
    ['a topic alias given twice', { cmd: 'publish', properties: { topicAlias: [1, 2] } }, 'protocol_error'],
    ['a Subscription Identifier in a PUBLISH from a client [MQTT-3.3.4-6]', { cmd: 'publish', properties: { subscriptionIdentifier: 5 } }, 'protocol_error'],
    ['a server-only property in CONNECT', { cmd: 'connect', properties: { assignedClientIdentifier: 'x' } }, 'protocol_error'],
    ['a topic alias in CONNECT', { cmd: 'connect', properties: { topicAlias: 1 } }, 'protocol_error'],
    ['Maximum Packet Size 0', { cmd: 'connect', properties: { maximumPacketSize: 0 } }, 'protocol_error'],
    ['Receive Maximum 0', { cmd: 'connect', properties: { receiveMaximum: 0 } }, 'protocol_error'],
    ['a will delay in a PUBLISH', { cmd: 'publish', properties: { willDelayInterval: 5 } }, 'protocol_error'],
    ['a topic alias in a will', { cmd: 'connect', will: { properties: { topicAlias: 1 } } }, 'protocol_error'],
    ['any property on PINGREQ', { cmd: 'pingreq', properties: { userProperties: { a: 'b' } } }, 'protocol_error'],
  ])('refuses %s', (_name, packet, violation) => {
    expect(packetPropertyViolation(packet as Parameters<typeof packetPropertyViolation>[0])).toBe(violation);
  });
});
