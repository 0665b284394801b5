// Request/response over MQTT 5 (§4.10), as the official SDK's agent preset speaks it: a
// request carries the requester's response topic, correlation data and user properties
// (correlationId, timestamp, senderId, messageType); the responder publishes its reply on that
// response topic with the same correlation data. This module builds those properties and pairs
// replies with the requests waiting for them; RealtimeClient does the publishing.
import type { IClientPublishOptions } from 'mqtt';
import { CloudSignalError } from './errors.js';
import { randomAlphanumeric } from './ids.js';
import { decodePayload } from './payload.js';
import type { QoS } from './realtimeClient.js';

export type PublishProperties = NonNullable<IClientPublishOptions['properties']>;
export type UserProperties = NonNullable<PublishProperties['userProperties']>;

/** The official SDK's default: `{clientId}` is replaced by the client id. */
export const DEFAULT_RESPONSE_TOPIC_PATTERN = 'response/{clientId}';
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** What a handler learns about a received message beyond its topic and decoded body. */
export interface ReceivedMessage {
  payload: Uint8Array;
  retain: boolean;
  qos: QoS;
  /** MQTT 5 properties (responseTopic, correlationData, userProperties…); absent under 3.1.1. */
  properties?: PublishProperties;
}

export interface RequestOptions {
  /** Default: the client's `requestTimeoutMs` (30 s, 60 s in the server preset). */
  timeoutMs?: number;
  /** Default 1. */
  qos?: QoS;
  /** Sent as the `messageType` user property. */
  messageType?: string;
  /** Added to (and may override) the SDK's own user properties. */
  userProperties?: UserProperties;
  /** Message Expiry Interval, seconds. Default: the client's (300 s in the agent preset, else none). */
  messageExpirySeconds?: number;
}

export interface ReplyOptions {
  qos?: QoS;
  messageType?: string;
  userProperties?: UserProperties;
  messageExpirySeconds?: number;
}

/** What `request()` resolves with (the official SDK's response object). */
export interface RequestReply {
  correlationId: string;
  /** The response topic the reply came on. */
  topic: string;
  /** JSON parsed, other text as a string. */
  payload: unknown;
  properties: PublishProperties;
  userProperties: UserProperties;
  receivedAt: number;
  latencyMs: number;
}

interface Waiting {
  resolve(reply: RequestReply): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
  createdAt: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Correlation data travels as bytes; mqtt-packet's writer takes any Uint8Array (Buffer in Node,
// its polyfill in browsers), so the browser build needs no Buffer of its own.
const correlationBytes = (id: string) => encoder.encode(id) as unknown as Buffer;

/** The requests of one client that wait for their reply, by correlation id. */
export class PendingRequests {
  readonly #waiting = new Map<string, Waiting>();
  #sequence = 0;

  /** Unique per client: a sequence number against reuse, random characters against other clients' ids. */
  nextCorrelationId(): string {
    return `req_${++this.#sequence}_${randomAlphanumeric(8)}`;
  }

  get size(): number {
    return this.#waiting.size;
  }

  /** Waits for the reply to `correlationId`; rejects with `request_timeout` after `timeoutMs`. */
  wait(correlationId: string, topic: string, timeoutMs: number): Promise<RequestReply> {
    return new Promise<RequestReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(correlationId);
        reject(new CloudSignalError('request_timeout', `no reply to the request on '${topic}' (correlation id ${correlationId}) within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(correlationId, { resolve, reject, timer, createdAt: Date.now() });
    });
  }

  fail(correlationId: string, err: Error): void {
    const w = this.#waiting.get(correlationId);
    if (!w) return;
    this.#waiting.delete(correlationId);
    clearTimeout(w.timer);
    w.reject(err);
  }

  failAll(err: Error): void {
    for (const id of [...this.#waiting.keys()]) this.fail(id, err);
  }

  /** Settles the request a message on the response topic answers; false when it answers none (late, or not a reply). */
  settle(topic: string, payload: Uint8Array, received: ReceivedMessage): boolean {
    const data = received.properties?.correlationData;
    if (!data) return false;
    const correlationId = decoder.decode(data);
    const w = this.#waiting.get(correlationId);
    if (!w) return false;
    this.#waiting.delete(correlationId);
    clearTimeout(w.timer);
    const receivedAt = Date.now();
    const properties = received.properties!;
    w.resolve({
      correlationId, topic, payload: decodePayload(payload), properties,
      userProperties: properties.userProperties ?? {}, receivedAt, latencyMs: receivedAt - w.createdAt,
    });
    return true;
  }
}

export const responseTopicFor = (pattern: string, clientId: string) => pattern.split('{clientId}').join(clientId);

interface Sender {
  senderId: string;
  /** Payloads that are not bytes are UTF-8 text (JSON or a string): Payload Format Indicator 1. */
  text: boolean;
  messageExpirySeconds?: number | undefined;
}

function commonProperties(s: Sender, userProperties: UserProperties): PublishProperties {
  return {
    ...(s.text ? { payloadFormatIndicator: true } : {}),
    ...(s.messageExpirySeconds !== undefined && s.messageExpirySeconds > 0 ? { messageExpiryInterval: s.messageExpirySeconds } : {}),
    userProperties,
  };
}

/** The PUBLISH properties of a request. */
export function requestProperties(s: Sender & { correlationId: string; responseTopic: string }, opts: RequestOptions): PublishProperties {
  return {
    responseTopic: s.responseTopic,
    correlationData: correlationBytes(s.correlationId),
    ...commonProperties(s, {
      correlationId: s.correlationId,
      timestamp: String(Date.now()),
      senderId: s.senderId,
      ...(opts.messageType !== undefined ? { messageType: opts.messageType } : {}),
      ...opts.userProperties,
    }),
  };
}

/** Where and with what properties to answer `request`; `not_a_request` when it has no response topic. */
export function replyTo(request: ReceivedMessage, s: Sender, opts: ReplyOptions): { topic: string; properties: PublishProperties } {
  const p = request.properties;
  if (!p?.responseTopic) throw new CloudSignalError('not_a_request', 'the message has no response topic (not an MQTT 5 request)');
  const asked = p.userProperties?.correlationId;
  const correlationId = typeof asked === 'string' ? asked : p.correlationData ? decoder.decode(p.correlationData) : undefined;
  return {
    topic: p.responseTopic,
    properties: {
      // The requester pairs the reply by these bytes, so they go back exactly as they came.
      ...(p.correlationData ? { correlationData: p.correlationData } : {}),
      ...commonProperties(s, {
        ...(correlationId !== undefined ? { correlationId } : {}),
        timestamp: String(Date.now()),
        senderId: s.senderId,
        ...(opts.messageType !== undefined ? { messageType: opts.messageType } : {}),
        ...opts.userProperties,
      }),
    },
  };
}
