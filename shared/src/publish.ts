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
