// The QoS a message may be delivered at to one client: at most the highest QoS granted to a
// subscription of that client that matches the topic [MQTT-3.8.4-6, MQTT-3.3.5-1]. aedes only
// downgrades by an exact lookup of the topic among the filters (lib/client.js deliverQoS), and
// retained messages sent on SUBSCRIBE go through the same path, so a wildcard filter granted QoS
// 0 or 1 would receive QoS 1 or 2.
//
// The answer must cost O(1) per delivery for ordinary clients and stay bounded for hostile ones (a
// scan of every filter per delivery let one client with 40,000 filters block the event loop for
// seconds). So each client's subscriptions map is observed as aedes writes it: per-QoS counts
// decide most deliveries alone (every filter granted at least the message's QoS, or none above a
// lower one), and only a client holding filters on both sides of the message's QoS is matched, by
// qlobber (the matcher aedes' own persistence uses), against the filters granted at least that QoS.
import type { Client } from 'aedes';
import { QlobberTrue } from 'qlobber';

type Subscription = { qos: number };
type Subscriptions = Record<string, Subscription>;

const MATCHER_OPTIONS = { separator: '/', wildcard_one: '+', wildcard_some: '#', match_empty_levels: true };

class GrantedQos {
  /** Filters granted QoS 0, 1 and 2. */
  private readonly counts = [0, 0, 0];
  /** Built on first need, then kept up to date: index q holds the filters granted at least QoS q (1, 2). */
  private readonly atLeast: (QlobberTrue | null)[] = [null, null, null];

  constructor(private readonly subscriptions: Subscriptions) {}

  added(filter: string, qos: number): void {
    this.counts[qos]!++;
    for (let q = 1; q <= qos; q++) this.atLeast[q]?.add(filter);
  }

  removed(filter: string, qos: number): void {
    this.counts[qos]!--;
    for (let q = 1; q <= qos; q++) this.atLeast[q]?.remove(filter);
  }

  /** The QoS to deliver a message of QoS `wanted` on the internal topic `topic` at. */
  cap(topic: string, wanted: number): number {
    if (wanted === 0) return 0;
    const exact = this.subscriptions[topic];
    if (exact && exact.qos >= wanted) return wanted;
    for (let q = wanted; q >= 1; q--) {
      let below = 0;
      for (let lower = 0; lower < q; lower++) below += this.counts[lower]!;
      if (below === 0) return q; // every filter is granted at least q
      let atOrAbove = 0;
      for (let higher = q; higher <= 2; higher++) atOrAbove += this.counts[higher]!;
      if (atOrAbove > 0 && this.matcher(q).test(topic)) return q;
    }
    return 0;
  }

  private matcher(q: number): QlobberTrue {
    let m = this.atLeast[q];
    if (!m) {
      m = this.atLeast[q] = new QlobberTrue(MATCHER_OPTIONS);
      for (const filter in this.subscriptions) if (this.subscriptions[filter]!.qos >= q) m.add(filter);
    }
    return m;
  }
}

const indexes = new WeakMap<Client, GrantedQos>();

/**
 * Replaces the client's subscriptions map (prototype-less, GHSA-52qw-whmv-87c5) by one that keeps
 * the index current; called before any packet of the client is parsed.
 */
export function trackGrantedQos(client: Client): void {
  const target: Subscriptions = Object.create(null);
  const index = new GrantedQos(target);
  const observed = new Proxy(target, {
    set(t, filter: string, sub: Subscription) {
      const before = t[filter];
      if (before) index.removed(filter, before.qos);
      t[filter] = sub;
      index.added(filter, sub.qos);
      return true;
    },
    deleteProperty(t, filter: string) {
      const before = t[filter];
      if (before) index.removed(filter, before.qos);
      return delete t[filter];
    },
  });
  (client as unknown as { subscriptions: Subscriptions }).subscriptions = observed;
  indexes.set(client, index);
}

/** The QoS a message of QoS `wanted` on the internal topic `topic` is delivered to `client` at. */
export function grantedQos(client: Client, topic: string, wanted: number): number {
  return indexes.get(client)?.cap(topic, wanted) ?? wanted;
}
