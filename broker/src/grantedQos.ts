// The QoS a message may be delivered at to one client: at most the highest QoS granted to a
// subscription of that client that matches the topic [MQTT-3.8.4-6, MQTT-3.3.5-1]. aedes only
// downgrades by an exact lookup of the topic among the filters (lib/client.js deliverQoS), and
// retained messages sent on SUBSCRIBE go through the same path, so a wildcard filter granted QoS
// 0 or 1 would receive QoS 1 or 2.
//
// The answer must cost O(1) per delivery for ordinary clients and stay bounded for hostile ones (a
// scan of every filter per delivery let one client with 40,000 filters block the event loop for
// seconds). So each client keeps an index of its granted filters, fed by the hooks that grant and
// remove them (hooks/subscribe.ts, hooks/unsubscribe.ts, SessionRegistry's rights recompute):
// per-QoS counts decide most deliveries alone (every filter granted at least the message's QoS, or
// none above a lower one), and only a client holding filters on both sides of the message's QoS is
// matched, by qlobber (the matcher aedes' own persistence uses), against the filters granted at
// least that QoS. (Observing aedes' own subscriptions map through a Proxy cost ~20 % of QoS 1
// fan-out throughput: bench/publish.mjs, qos1_1to100.) A shared subscription is granted under its
// own key (the `$share/…` filter's internal form) but counts for the filter it shares.
import type { Client } from 'aedes';
import { QlobberTrue } from 'qlobber';

const MATCHER_OPTIONS = { separator: '/', wildcard_one: '+', wildcard_some: '#', match_empty_levels: true };

class GrantedQos {
  /** Per subscription (aedes' key: the internal filter, or a shared subscription's internal form), the filter it matches and its QoS. */
  private readonly subscriptions = new Map<string, { filter: string; qos: number }>();
  /** Per matched filter, the subscriptions on it and their QoS (a filter and a shared subscription of it may both be held). */
  private readonly byFilter = new Map<string, Map<string, number>>();
  /** Per matched filter, the highest QoS granted on it. */
  private readonly filters = new Map<string, number>();
  /** Filters granted QoS 0, 1 and 2. */
  private readonly counts = [0, 0, 0];
  /** Built on first need, then kept up to date: index q holds the filters granted at least QoS q (1, 2). */
  private readonly atLeast: (QlobberTrue | null)[] = [null, null, null];

  /** The subscription `key` was granted `qos`; it delivers messages matching `filter`. */
  granted(key: string, qos: number, filter = key): void {
    this.removed(key);
    this.subscriptions.set(key, { filter, qos });
    let on = this.byFilter.get(filter);
    if (!on) this.byFilter.set(filter, (on = new Map()));
    on.set(key, qos);
    this.refresh(filter, on);
  }

  removed(key: string): void {
    const sub = this.subscriptions.get(key);
    if (sub === undefined) return;
    this.subscriptions.delete(key);
    const on = this.byFilter.get(sub.filter)!;
    on.delete(key);
    if (on.size === 0) this.byFilter.delete(sub.filter);
    this.refresh(sub.filter, on);
  }

  /** Moves `filter` to the highest QoS of the subscriptions left on it. */
  private refresh(filter: string, on: Map<string, number>): void {
    const before = this.filters.get(filter);
    const after = on.size === 0 ? undefined : Math.max(...on.values());
    if (before === after) return;
    if (before !== undefined) {
      this.filters.delete(filter);
      this.counts[before]!--;
      for (let q = 1; q <= before; q++) this.atLeast[q]?.remove(filter);
    }
    if (after !== undefined) {
      this.filters.set(filter, after);
      this.counts[after]!++;
      for (let q = 1; q <= after; q++) this.atLeast[q]?.add(filter);
    }
  }

  /** The QoS to deliver a message of QoS `wanted` on the internal topic `topic` at. */
  cap(topic: string, wanted: number): number {
    const exact = this.filters.get(topic);
    if (exact !== undefined && exact >= wanted) return wanted;
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
      for (const [filter, qos] of this.filters) if (qos >= q) m.add(filter);
    }
    return m;
  }
}

const indexes = new WeakMap<Client, GrantedQos>();

/** The granted subscriptions of `client` (internal form), as the hooks grant and remove them. */
export function grantedFilters(client: Client): Pick<GrantedQos, 'granted' | 'removed'> {
  let index = indexes.get(client);
  if (!index) indexes.set(client, (index = new GrantedQos()));
  return index;
}

/** The QoS a message of QoS `wanted` on the internal topic `topic` is delivered to `client` at. */
export function grantedQos(client: Client, topic: string, wanted: number): number {
  if (wanted === 0) return 0;
  return indexes.get(client)?.cap(topic, wanted) ?? 0;
}

/**
 * The filters (internal) each connection holds or was just granted, what max_subscriptions_per_connection
 * counts: aedes' own map fills only after it handled a packet, so SUBSCRIBEs read in one go (or
 * queued before the CONNACK) would all count against the same stale map.
 */
const held = new WeakMap<Client, Set<string>>();
export function heldFilters(client: Client): Set<string> {
  let filters = held.get(client);
  if (!filters) held.set(client, (filters = new Set()));
  return filters;
}
