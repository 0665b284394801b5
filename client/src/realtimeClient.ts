// The connection core (seed 004's RealtimeClient): one MQTT session over mqtt.js that survives
// network drops, credential switches and broker auth refusals, keeping its subscriptions and its
// unacknowledged QoS 1/2 publishes. CloudSignal builds its token lifecycle on top of it.
//
// How nothing is lost across a switch: every mqtt.js client this core creates shares one outgoing
// store that is never closed (mqtt.js re-sends what is in it on connect), sessions are persistent
// (clean: false, stable client id; under MQTT 5 also a Session Expiry Interval, without which the
// session would end with the connection) so the broker keeps subscriptions and queues QoS 1
// messages while we are away, and subscriptions are re-sent when the broker reports no session.
import mqtt, { type IClientOptions, type IConnackPacket, type IDisconnectPacket, type MqttClient } from 'mqtt';
import { endpointParts, endpointUrl, type Endpoint, type Scheme } from './endpoint.js';
import { CloudSignalError, credentialRefusal, isAuthRefusal } from './errors.js';
import { backoffDelaySeconds, validBackoff, type RetryBackoff } from './backoff.js';
import { randomClientId } from './ids.js';
import { decodePayload, encodePayload } from './payload.js';
import { Listeners } from './listeners.js';
import type { ProtocolVersion } from './presets.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_RESPONSE_TOPIC_PATTERN, PendingRequests, replyTo, requestProperties, responseTopicFor,
  type PublishProperties, type ReceivedMessage, type ReplyOptions, type RequestOptions, type RequestReply,
} from './requests.js';

export type QoS = 0 | 1 | 2;

export type ConnectionStatus =
  | 'idle'
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  /** The broker refused the credentials; fresh ones are being fetched (seed 004). */
  | 'refreshing_credentials'
  /** The broker refused the credentials and no fresh ones could be had. */
  | 'auth_failed'
  | 'closed';

/** Supplies credentials: seed 004's RemoteCredentials, or your own. */
export interface CredentialsProvider {
  get(): Promise<Endpoint>;
}

export interface RealtimeClientOptions {
  endpoint?: Endpoint;
  /** Used for the first connect when `endpoint` is absent, and on auth failure when `onAuthFailure` is absent. */
  credentials?: CredentialsProvider;
  /**
   * Called when the broker refuses the credentials (CONNACK 4/5, 0x86/0x87 under MQTT 5). Return fresh endpoint fields;
   * return null/undefined to give up (status `auth_failed`); throw to retry with backoff.
   */
  onAuthFailure?: () => Promise<Partial<Endpoint> | null | undefined>;
  /** Backoff between failed auth recoveries. Default {baseSeconds: 1, ceilSeconds: 60}. */
  retryBackoff?: Partial<RetryBackoff>;
  /** Pause between getting fresh credentials and reconnecting, seconds. Default 2 (seed 004). */
  authRetryDelaySeconds?: number;
  /** Default: `cs_` + 8 random letters or digits. */
  clientId?: string;
  /** 5 (MQTT 5.0, the default) or 4 (MQTT 3.1.1). */
  protocolVersion?: ProtocolVersion;
  /** Default false: a persistent session keeps subscriptions and queued messages across reconnects. */
  clean?: boolean;
  /**
   * MQTT 5 only: how long the broker keeps a persistent session after the connection ends, seconds.
   * Default 3600 with `clean: false` (0 ends the session with the connection, as the official SDK's
   * CONNECT does), always 0 with `clean: true`.
   */
  sessionExpirySeconds?: number;
  keepaliveSeconds?: number;
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  /** Scheme when the endpoint has none. Default mqtt. */
  defaultScheme?: Scheme;
  /** QoS for subscribe/publish when not given. Default 1. */
  defaultQos?: QoS;
  /** Where replies to `request()` come: `{clientId}` is replaced. Default `response/{clientId}`. */
  responseTopicPattern?: string;
  /** How long `request()` waits for its reply. Default 30 s. */
  requestTimeoutMs?: number;
  /** Message Expiry Interval of requests and replies, seconds. Default none. */
  messageExpirySeconds?: number;
  /** Extra mqtt.js options (advanced). */
  mqttOptions?: Partial<IClientOptions>;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  /** MQTT 5 PUBLISH properties (ignored under 3.1.1). */
  properties?: PublishProperties;
}

export type MessageHandler = (topic: string, message: unknown, received: ReceivedMessage) => void;

interface Events {
  message: Parameters<MessageHandler>;
  status: [ConnectionStatus];
  connected: [{ sessionPresent: boolean }];
  authError: [CloudSignalError];
  authRetry: [{ attempt: number; delayMs: number }];
  error: [Error];
  /** Internal: publishes and subscribes can go out now. */
  ready: [];
}

interface PendingPublish {
  topic: string;
  payload: string | Uint8Array;
  opts: PublishOptions;
  resolve(): void;
  reject(err: Error): void;
}

/** Seed 004: "Wait 2 seconds" between fresh credentials and the reconnect. */
export const DEFAULT_AUTH_RETRY_DELAY_SECONDS = 2;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** An end(false) that waits on a PUBACK the broker never sends must not hang a switch. */
const GRACEFUL_END_TIMEOUT_MS = 5_000;
/**
 * MQTT 5's Session Expiry Interval is 0 when absent (§3.1.2.11.2): clean: false alone would end
 * the session with the connection, and with it what the broker queues during a network drop or a
 * credential switch. An hour covers those and still lets abandoned sessions (a closed tab's random
 * client id) go.
 */
export const DEFAULT_SESSION_EXPIRY_SECONDS = 3600;

export class RealtimeClient {
  readonly clientId: string;
  #opts: RealtimeClientOptions;
  #backoff: RetryBackoff;
  #endpoint: Endpoint | undefined;
  #mqtt: MqttClient | null = null;
  readonly #outgoingStore = new mqtt.Store({ clean: false });
  readonly #incomingStore = new mqtt.Store({ clean: false });
  readonly #subscriptions = new Map<string, QoS>();
  #pending: PendingPublish[] = [];
  readonly #requests = new PendingRequests();
  #responseSubscription: Promise<void> | null = null;
  #status: ConnectionStatus = 'idle';
  #recovering: Promise<void> | null = null;
  /** Settles the recovery's current connection attempt (connected, or refused again). */
  #attempt: { resolve(): void; reject(err: Error): void } | null = null;
  #switching = false;
  readonly #retiring = new WeakSet<MqttClient>();
  #everConnected = false;
  #destroyed = false;
  #firstConnect: { promise: Promise<void>; resolve(): void; reject(err: Error): void } | null = null;
  readonly #events = new Listeners<Events>();

  constructor(opts: RealtimeClientOptions = {}) {
    this.#opts = opts;
    this.#backoff = validBackoff(opts.retryBackoff);
    this.#endpoint = opts.endpoint ? { ...opts.endpoint } : undefined;
    this.clientId = opts.clientId ?? randomClientId();
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  /** 5 (MQTT 5.0) or 4 (MQTT 3.1.1). */
  get protocolVersion(): ProtocolVersion {
    return this.#opts.protocolVersion ?? 5;
  }

  /** Where replies to this client's requests arrive. */
  get responseTopic(): string {
    return responseTopicFor(this.#opts.responseTopicPattern ?? DEFAULT_RESPONSE_TOPIC_PATTERN, this.clientId);
  }

  get isConnected(): boolean {
    return this.#status === 'connected';
  }

  /** The filters this client keeps subscribed across reconnects. */
  get subscriptions(): string[] {
    return [...this.#subscriptions.keys()];
  }

  on<E extends keyof Events>(event: E, listener: (...args: Events[E]) => void): () => void {
    return this.#events.on(event, listener);
  }

  onMessage(handler: MessageHandler): () => void {
    return this.#events.on('message', handler);
  }

  /** Connects; resolves on the first CONNACK 0 (after an auth recovery if the first try is refused). */
  async connect(): Promise<void> {
    if (this.#destroyed) throw new CloudSignalError('destroyed', 'client destroyed');
    if (this.#firstConnect) return this.#firstConnect.promise;
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#firstConnect = { promise, resolve, reject };
    try {
      if (!this.#endpoint) {
        if (!this.#opts.credentials) throw new CloudSignalError('invalid_options', 'RealtimeClient needs an endpoint or a credentials provider');
        this.#endpoint = { ...(await this.#opts.credentials.get()) };
      }
      this.#open();
    } catch (err) {
      this.#failFirstConnect(err as Error);
    }
    return promise;
  }

  subscribe(topic: string, qos: QoS = this.#opts.defaultQos ?? 1): Promise<void> {
    this.#subscriptions.set(topic, qos);
    return this.#whenConnected().then(() => this.#sendSubscribe(topic, qos));
  }

  async unsubscribe(topic: string): Promise<void> {
    this.#subscriptions.delete(topic);
    if (topic === this.responseTopic) this.#responseSubscription = null;
    const c = this.#mqtt;
    if (c?.connected) await c.unsubscribeAsync(topic);
  }

  /** Publishes; objects travel as JSON. Queued while disconnected or switching credentials. */
  publish(topic: string, message: unknown, opts: PublishOptions = {}): Promise<void> {
    if (this.#destroyed) return Promise.reject(new CloudSignalError('destroyed', 'client destroyed'));
    if (this.#status === 'auth_failed') return Promise.reject(new CloudSignalError('auth_failed', 'the broker refused the credentials'));
    const payload = encodePayload(message);
    const o = { qos: opts.qos ?? this.#opts.defaultQos ?? 1, retain: opts.retain ?? false, ...(opts.properties ? { properties: opts.properties } : {}) };
    return new Promise<void>((resolve, reject) => {
      const item = { topic, payload, opts: o, resolve, reject };
      if (this.#canSend()) this.#send(item);
      else this.#pending.push(item);
    });
  }

  /**
   * MQTT 5 request/response: publishes `message` on `topic` with this client's response topic,
   * fresh correlation data and user properties (correlationId, timestamp, senderId, messageType),
   * and resolves with the reply that carries the same correlation data. Rejects with
   * `request_timeout` when none comes in time, `mqtt5_required` on a 3.1.1 connection.
   */
  request(topic: string, message: unknown, opts: RequestOptions = {}): Promise<RequestReply> {
    if (this.#destroyed) return Promise.reject(new CloudSignalError('destroyed', 'client destroyed'));
    if (this.protocolVersion !== 5) {
      return Promise.reject(new CloudSignalError('mqtt5_required', 'request/response needs MQTT 5 (response topic and correlation data are MQTT 5 properties): use protocolVersion 5'));
    }
    const correlationId = this.#requests.nextCorrelationId();
    const reply = this.#requests.wait(correlationId, topic, opts.timeoutMs ?? this.#opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    const properties = requestProperties({
      correlationId, responseTopic: this.responseTopic, senderId: this.clientId,
      text: !(message instanceof Uint8Array), messageExpirySeconds: opts.messageExpirySeconds ?? this.#opts.messageExpirySeconds,
    }, opts);
    // Subscribed before the request leaves, so a quick reply cannot arrive unheard.
    this.#subscribeToResponses()
      .then(() => this.publish(topic, message, { qos: opts.qos ?? 1, properties }))
      .catch((err: Error) => this.#requests.fail(correlationId, err));
    return reply;
  }

  /**
   * Answers a request received in `onMessage` (its third argument): publishes `message` on the
   * request's response topic with the same correlation data. Rejects with `not_a_request` when the
   * message has no response topic.
   */
  respond(request: ReceivedMessage, message: unknown, opts: ReplyOptions = {}): Promise<void> {
    let reply: ReturnType<typeof replyTo>;
    try {
      reply = replyTo(request, {
        senderId: this.clientId, text: !(message instanceof Uint8Array), messageExpirySeconds: opts.messageExpirySeconds ?? this.#opts.messageExpirySeconds,
      }, opts);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.publish(reply.topic, message, { qos: opts.qos ?? 1, properties: reply.properties });
  }

  /** Seed 004: the new endpoint (fields merged into the current one) is used for the next (re-)connection. */
  updateEndpoint(endpoint: Partial<Endpoint>): void {
    this.#endpoint = { ...this.#endpoint, ...endpoint } as Endpoint;
    const c = this.#mqtt;
    if (!c) return;
    // mqtt.js reads these very options on its own reconnects.
    const o = c.options as IClientOptions & { host?: string };
    const parts = endpointParts(this.#endpoint, this.#opts.defaultScheme);
    o.username = this.#endpoint.username;
    o.password = this.#endpoint.password;
    o.hostname = parts.host;
    o.host = parts.host;
    o.port = parts.port;
    o.protocol = parts.scheme;
    o.path = parts.path === '' ? undefined : parts.path;
  }

  /**
   * Moves the live session to new credentials now: waits for in-flight publishes, disconnects
   * cleanly, reconnects with the same client id (the broker resumes the session). Publishes made
   * meanwhile are queued and sent after the switch.
   */
  async switchEndpoint(endpoint: Partial<Endpoint>): Promise<void> {
    this.#endpoint = { ...this.#endpoint, ...endpoint } as Endpoint;
    const old = this.#mqtt;
    if (!old || this.#destroyed) return;
    if (this.#recovering) return; // the recovery reconnects with whatever endpoint is current
    this.#switching = true;
    let refused = false;
    try {
      this.#retiring.add(old);
      if (old.connected) await endGracefully(old);
      else old.end(true);
      if (this.#destroyed) return;
      const connected = this.#nextConnection();
      this.#open();
      await connected.catch((err: unknown) => {
        // The new credentials were refused: that is an auth failure like any other.
        if (!isAuthRefusal(err) || !this.#hasAuthRecovery()) throw err;
        refused = true;
      });
    } finally {
      this.#switching = false;
      this.#flushPending();
    }
    if (refused) await this.recoverAuth();
  }

  /**
   * Seed 004's recovery after an auth refusal: force-disconnect, fetch fresh credentials, wait,
   * reconnect, restore every subscription. Concurrent calls share one run.
   */
  recoverAuth(): Promise<void> {
    this.#recovering ??= this.#runRecovery().finally(() => {
      this.#recovering = null;
      this.#flushPending();
    });
    return this.#recovering;
  }

  /** Ends the session: unsubscribes (so a persistent session stops queueing), disconnects. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const c = this.#mqtt;
    this.#mqtt = null;
    for (const p of this.#pending.splice(0)) p.reject(new CloudSignalError('destroyed', 'client destroyed'));
    this.#requests.failAll(new CloudSignalError('destroyed', 'client destroyed'));
    this.#failFirstConnect(new CloudSignalError('destroyed', 'client destroyed before it connected'));
    this.#attempt?.reject(new CloudSignalError('destroyed', 'client destroyed'));
    this.#setStatus('closed');
    if (!c) return;
    c.removeAllListeners('message');
    const persistent = !(this.#opts.clean ?? false);
    // A persistent session must stop queueing for a client that is gone. MQTT 5 ends it with the
    // DISCONNECT (Session Expiry Interval 0, §3.14.2.2.2); 3.1.1 can only empty it of subscriptions first.
    if (c.connected && persistent && this.protocolVersion === 4 && this.#subscriptions.size > 0) {
      await settleWithin(c.unsubscribeAsync([...this.#subscriptions.keys()]), 1_000);
    }
    const endSession = persistent && this.protocolVersion === 5 && this.#sessionExpirySeconds() > 0;
    if (c.connected) await endGracefully(c, 1_000, endSession ? { properties: { sessionExpiryInterval: 0 } } : {});
    else c.end(true);
  }

  // ---- internals ----

  #sessionExpirySeconds(): number {
    return (this.#opts.clean ?? false) ? 0 : this.#opts.sessionExpirySeconds ?? DEFAULT_SESSION_EXPIRY_SECONDS;
  }

  #subscribeToResponses(): Promise<void> {
    this.#responseSubscription ??= this.subscribe(this.responseTopic).catch((err: unknown) => {
      this.#responseSubscription = null;
      throw err;
    });
    return this.#responseSubscription;
  }

  #open(): void {
    const ep = this.#endpoint!;
    const o = this.#opts;
    const sessionExpiry = this.#sessionExpirySeconds();
    const client = mqtt.connect(endpointUrl(ep, o.defaultScheme), {
      clientId: this.clientId,
      username: ep.username,
      password: ep.password,
      clean: o.clean ?? false,
      keepalive: o.keepaliveSeconds ?? 60,
      reconnectPeriod: o.reconnectPeriodMs ?? 2_000,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      protocolVersion: this.protocolVersion,
      ...(this.protocolVersion === 5 && sessionExpiry > 0 ? { properties: { sessionExpiryInterval: sessionExpiry } } : {}),
      // This core restores subscriptions itself, only when the broker has no session for us.
      resubscribe: false,
      outgoingStore: this.#outgoingStore,
      incomingStore: this.#incomingStore,
      ...o.mqttOptions,
    });
    this.#mqtt = client;
    if (this.#status !== 'refreshing_credentials' && !this.#switching) this.#setStatus(this.#everConnected ? 'reconnecting' : 'connecting');

    client.on('connect', (connack: IConnackPacket) => {
      if (client !== this.#mqtt) return;
      this.#everConnected = true;
      this.#setStatus('connected');
      if (!connack.sessionPresent) this.#restoreSubscriptions(client);
      this.#events.emit('connected', { sessionPresent: connack.sessionPresent });
      this.#firstConnect?.resolve();
      this.#attempt?.resolve();
      this.#flushPending();
    });
    client.on('message', (topic, payload, packet) => {
      const received: ReceivedMessage = { payload, retain: packet.retain, qos: packet.qos, ...(packet.properties ? { properties: packet.properties } : {}) };
      // A reply to one of our requests settles it and goes no further; a late or foreign one is an ordinary message.
      if (topic === this.responseTopic && this.#requests.settle(topic, payload, received)) return;
      this.#events.emit('message', topic, decodePayload(payload), received);
    });
    client.on('error', (err: Error & { code?: unknown }) => {
      if (client !== this.#mqtt) return;
      if (isAuthRefusal(err)) {
        // connack_4 / connack_5 at either protocol level, so applications match one code; status keeps the wire's.
        const wire = Number(err.code);
        const refusal = new CloudSignalError(`connack_${credentialRefusal(wire)}`, `broker refused the credentials (CONNACK ${wire > 5 ? `0x${wire.toString(16)}` : wire}): ${err.message}`, wire);
        this.#events.emit('authError', refusal);
        if (this.#attempt) this.#attempt.reject(refusal);
        else if (this.#hasAuthRecovery()) void this.recoverAuth().catch(() => undefined);
        else this.#giveUp(refusal);
        return;
      }
      this.#events.emit('error', err);
      // A first connect that cannot reach the broker fails fast instead of retrying forever.
      if (!this.#everConnected && !this.#recovering) {
        client.end(true);
        this.#failFirstConnect(new CloudSignalError('connection_failed', `cannot connect to ${endpointUrl(ep, o.defaultScheme)}: ${err.message}`));
      }
    });
    client.on('close', () => {
      // A client retired by a credential switch closes on purpose; any other close is a drop.
      if (client !== this.#mqtt || this.#destroyed || this.#retiring.has(client)) return;
      if (this.#status === 'connected') this.#setStatus('reconnecting');
    });
  }

  #hasAuthRecovery(): boolean {
    return Boolean(this.#opts.onAuthFailure ?? this.#opts.credentials);
  }

  async #runRecovery(): Promise<void> {
    const fetchCredentials = this.#opts.onAuthFailure ?? (this.#opts.credentials ? () => this.#opts.credentials!.get() : undefined);
    if (!fetchCredentials) throw new CloudSignalError('auth_failed', 'no onAuthFailure handler or credentials provider');
    this.#setStatus('refreshing_credentials');
    // Force-disconnect: the shared store keeps what was not acknowledged.
    this.#detach();
    for (let attempt = 0; !this.#destroyed; attempt++) {
      try {
        const fresh = await fetchCredentials();
        if (fresh == null) {
          this.#giveUp(new CloudSignalError('auth_failed', 'the broker refused the credentials and no fresh ones are available'));
          return;
        }
        this.#endpoint = { ...this.#endpoint, ...fresh } as Endpoint;
        await sleep((this.#opts.authRetryDelaySeconds ?? DEFAULT_AUTH_RETRY_DELAY_SECONDS) * 1000);
        if (this.#destroyed) return;
        const connected = this.#nextConnection();
        this.#open();
        await connected;
        return;
      } catch (err) {
        if (this.#destroyed) return;
        this.#detach();
        this.#events.emit('error', err as Error);
        const delayMs = backoffDelaySeconds(attempt, this.#backoff) * 1000;
        this.#events.emit('authRetry', { attempt: attempt + 1, delayMs });
        await sleep(delayMs);
      }
    }
  }

  /** Resolves when the next client connects, rejects when the broker refuses it. */
  #nextConnection(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#attempt = {
        resolve: () => {
          this.#attempt = null;
          resolve();
        },
        reject: (err) => {
          this.#attempt = null;
          reject(err);
        },
      };
    });
  }

  #detach(): void {
    const c = this.#mqtt;
    this.#mqtt = null;
    if (!c) return;
    c.removeAllListeners('connect');
    c.removeAllListeners('close');
    c.removeAllListeners('error');
    c.on('error', () => undefined);
    c.end(true);
  }

  #giveUp(err: CloudSignalError): void {
    this.#detach();
    this.#setStatus('auth_failed');
    this.#failFirstConnect(err);
    for (const p of this.#pending.splice(0)) p.reject(err);
  }

  #failFirstConnect(err: Error): void {
    const first = this.#firstConnect;
    if (first && !this.#everConnected) {
      first.reject(err);
      // A later connect() may try again.
      this.#firstConnect = null;
    }
  }

  #canSend(): boolean {
    return Boolean(this.#mqtt?.connected) && !this.#switching && !this.#recovering;
  }

  #send(p: PendingPublish): void {
    const opts = { qos: p.opts.qos ?? 1, retain: p.opts.retain ?? false, ...(p.opts.properties && this.protocolVersion === 5 ? { properties: p.opts.properties } : {}) };
    this.#mqtt!.publish(p.topic, p.payload as string, opts, (err) => (err ? p.reject(err) : p.resolve()));
  }

  #flushPending(): void {
    while (this.#pending.length > 0 && this.#canSend()) this.#send(this.#pending.shift()!);
    if (this.#canSend()) this.#events.emit('ready');
  }

  #restoreSubscriptions(client: MqttClient): void {
    for (const [topic, qos] of this.#subscriptions) {
      client.subscribe(topic, { qos }, (err, granted) => {
        if (err || granted?.some((g) => g.qos >= 0x80)) {
          this.#events.emit('error', new CloudSignalError('subscription_denied', `could not restore the subscription to '${topic}'`));
        }
      });
    }
  }

  async #sendSubscribe(topic: string, qos: QoS): Promise<void> {
    const c = this.#mqtt;
    if (!c) throw new CloudSignalError('destroyed', 'client destroyed');
    // mqtt.js rejects on a SUBACK failure code (0x80; MQTT 5: 0x87 and the like); older versions resolve with it as the qos.
    const granted = await c.subscribeAsync(topic, { qos }).catch((err: Error) => {
      if (/subscribe error/i.test(err.message)) return [{ topic, qos: 128 }];
      throw err;
    });
    if (granted.some((g) => g.qos >= 0x80)) {
      this.#subscriptions.delete(topic);
      throw new CloudSignalError('subscription_denied', `the broker denied the subscription to '${topic}'`);
    }
  }

  #whenConnected(): Promise<void> {
    if (this.#canSend()) return Promise.resolve();
    if (this.#destroyed) return Promise.reject(new CloudSignalError('destroyed', 'client destroyed'));
    if (this.#status === 'auth_failed') return Promise.reject(new CloudSignalError('auth_failed', 'the broker refused the credentials'));
    return new Promise<void>((resolve, reject) => {
      const offConnected = this.#events.on('ready', () => {
        offConnected();
        offStatus();
        resolve();
      });
      const offStatus = this.#events.on('status', (s) => {
        if (s === 'closed' || s === 'auth_failed') {
          offConnected();
          offStatus();
          reject(new CloudSignalError(s === 'closed' ? 'destroyed' : 'auth_failed', `client ${s}`));
        }
      });
    });
  }

  #setStatus(s: ConnectionStatus): void {
    if (this.#status === s) return;
    this.#status = s;
    this.#events.emit('status', s);
  }
}

/** Waits for `p` (fulfilled or rejected) at most `ms`; the timer is cleared either way, so it never holds a Node process open. */
function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    p.then(done, done);
  });
}

/** DISCONNECT (with `disconnect`'s reason and properties) after in-flight publishes are acknowledged, or force-close after `timeoutMs`. */
function endGracefully(c: MqttClient, timeoutMs = GRACEFUL_END_TIMEOUT_MS, disconnect: Partial<IDisconnectPacket> = {}): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      c.end(true);
      resolve();
    }, timeoutMs);
    c.end(false, disconnect, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
