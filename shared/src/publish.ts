// How the REST publisher hands messages to a broker. The API validates and authorises (the topic
// against the organisation's default rules, the payload against its limit); a channel only
// delivers. In one process (`signalgate start`) the broker's own channel is passed to the API.
export interface OutgoingMessage {
  /** Client-visible topic of the organisation (the broker namespaces it). */
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
}

export interface PublishChannel {
  /** Publishes in order; resolves with the number of subscribing clients each message matched. */
  publish(orgId: string, messages: readonly OutgoingMessage[]): Promise<{ subscribers: number }[]>;
}

/** Where the API finds a channel: set once the broker of this process has started (null: none here). */
export interface PublishChannelHolder {
  current: PublishChannel | null;
}

/**
 * Between processes (an API with --api-only, a broker with --broker-only, one data dir): where a
 * broker announces its loopback publish endpoint, and what travels to it.
 */
export const PUBLISH_ENDPOINT_FILE = 'publish-endpoint.json';

export interface PublishEndpointFile {
  url: string;
  secret: string;
  brokerId: string;
}

/** A publish request on the wire (payloads as base64: they are bytes). */
export interface PublishWireRequest {
  orgId: string;
  messages: { topic: string; payload: string; qos: 0 | 1 | 2; retain: boolean }[];
}

export const toWire = (orgId: string, messages: readonly OutgoingMessage[]): PublishWireRequest => ({
  orgId, messages: messages.map((m) => ({ topic: m.topic, payload: m.payload.toString('base64'), qos: m.qos, retain: m.retain })),
});

export const fromWire = (body: PublishWireRequest): OutgoingMessage[] =>
  body.messages.map((m) => ({ topic: m.topic, payload: Buffer.from(m.payload, 'base64'), qos: m.qos, retain: m.retain }));
