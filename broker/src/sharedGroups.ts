// Shared subscriptions `$share/<group>/<filter>`, which aedes 2.0.0-beta.1 does not serve (it
// refuses an MQTT 5 `$share/` filter with 0x9E and announces them unavailable in every CONNACK;
// wireCorrections.ts corrects that CONNACK).
//
// A member's subscription is held by aedes as any other, under its internal form
// (`$share/g/f` → `$org_x/share/g/f`). Nothing is ever published there (`$share` is a reserved
// root: no client, will or REST message may use it), so aedes' own matching never delivers to it,
// yet aedes keeps everything a subscription has: the SUBACK, the persistent session's copy and its
// restore, the options (QoS, retain as published, subscription identifier), UNSUBSCRIBE. The group
// subscribes once, on the filter inside the org's namespace, and hands each message to one member
// by calling that member's own aedes delivery function: round robin among the connected members
// whose rights still allow the topic. The group key holds the org, so two orgs' groups never mix.
//
// In a cluster every node gets every message; the nodes agree on the one that delivers it
// (cluster/sharedAcrossNodes.ts), and that node's group picks its member as above.
import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import type { ClusterShares } from './cluster/sharedAcrossNodes.js';
import { clientTopic, internalTopic, parseSharedFilter, topicMatchesFilter } from '@signalgate/shared';
import type { BrokerMetrics } from './metrics.js';
import type { ClientSession } from './sessions.js';

type Deliver = (packet: AedesPublishPacket, cb: () => void) => void;
type Member = Client & {
  closed: boolean;
  clean: boolean;
  subscriptions: Record<string, { func: Deliver; qos: number } | undefined>;
  /** aedes' per-client dedupe: the highest brokerCounter delivered, per broker id. */
  duplicates: Record<string, number | undefined>;
};
type Persistence = { outgoingEnqueue(sub: { clientId: string }, packet: AedesPublishPacket): Promise<void> };

class Group {
  readonly members: Member[] = [];
  /** Index of the member the next message is offered to first. */
  next = 0;
  constructor(
    readonly key: string,
    readonly orgId: string,
    /** The shared filter inside the org's namespace: what the group subscribes aedes to. */
    readonly topicFilter: string,
    readonly dispatch: Deliver,
  ) {}
}

export class SharedGroups {
  private aedes: Aedes | null = null;
  private cluster: ClusterShares | null = null;
  /** By internal subscription key (`$org_x/share/<group>/<filter>`). */
  private readonly groups = new Map<string, Group>();
  private readonly ofOrg = new Map<string, Set<Group>>();
  /** The groups each client is a member of, to leave them all when its connection goes. */
  private readonly ofClient = new WeakMap<Client, Set<string>>();

  constructor(
    private readonly sessionOf: (client: Client) => ClientSession | undefined,
    private readonly metrics: BrokerMetrics,
  ) {}

  attach(aedes: Aedes, cluster: ClusterShares | null): void {
    this.aedes = aedes;
    this.cluster = cluster;
  }

  /**
   * `client` of `orgId` holds (or is about to hold) a subscription on `visible`, whose rights were
   * checked. If it is a shared one, the client joins its group; returns the filter the group
   * shares (internal), or null for an ordinary subscription.
   */
  join(client: Client, orgId: string, visible: string): string | null {
    const shared = parseSharedFilter(visible);
    if (shared === null || !('filter' in shared) || !this.aedes) return null;
    const key = internalTopic(orgId, visible);
    let group = this.groups.get(key);
    if (!group) group = this.open(key, orgId, internalTopic(orgId, shared.filter));
    const member = client as Member;
    if (!group.members.includes(member)) {
      group.members.push(member);
      this.cluster?.members(key, group.members.length);
    }
    let keys = this.ofClient.get(client);
    if (!keys) {
      this.ofClient.set(client, (keys = new Set()));
      client.conn.once('close', () => this.leaveAll(client));
    }
    keys.add(key);
    return group.topicFilter;
  }

  leave(client: Client, key: string): void {
    this.ofClient.get(client)?.delete(key);
    const group = this.groups.get(key);
    if (!group) return;
    const i = group.members.indexOf(client as Member);
    if (i < 0) return;
    group.members.splice(i, 1);
    this.cluster?.members(key, group.members.length);
    if (group.next > i) group.next--;
    if (group.members.length === 0) this.close(group);
  }

  /**
   * Groups of `orgId` that would take a message on the internal topic `topic` now: the REST
   * publisher counts each as one subscriber.
   */
  receivingGroups(orgId: string, topic: string): number {
    let n = 0;
    for (const g of this.ofOrg.get(orgId) ?? []) {
      if (topicMatchesFilter(g.topicFilter, topic) && this.pick(g, { topic }, false) !== null) n++;
    }
    return n;
  }

  private leaveAll(client: Client): void {
    for (const key of this.ofClient.get(client) ?? []) this.leave(client, key);
    this.ofClient.delete(client);
  }

  private open(key: string, orgId: string, topicFilter: string): Group {
    const group: Group = new Group(key, orgId, topicFilter, (packet, cb) => {
      if (this.cluster && !this.cluster.delivers(key, `${packet.brokerId}:${packet.brokerCounter}`)) return cb();
      const member = this.pick(group, packet, true);
      if (member === null) {
        this.metrics.deliveriesDropped.inc({ reason: 'no_shared_member' });
        return cb();
      }
      const sub = member.subscriptions[key]!;
      // aedes puts a QoS > 0 message in the queue of every persistent session its index matches
      // before delivery (aedes.js enqueueOffline), and delivery to such a session updates that entry
      // (client.js deliverQoS); a member's own subscription matches no topic, so the group queues it.
      if (packet.qos > 0 && sub.qos > 0 && !member.clean) {
        const persistence = (this.aedes as unknown as { persistence: Persistence }).persistence;
        persistence.outgoingEnqueue({ clientId: member.id }, packet).then(() => sub.func(packet, cb), () => cb());
        return;
      }
      sub.func(packet, cb);
    });
    this.groups.set(key, group);
    let orgGroups = this.ofOrg.get(orgId);
    if (!orgGroups) this.ofOrg.set(orgId, (orgGroups = new Set()));
    orgGroups.add(group);
    this.aedes!.subscribe(topicFilter, group.dispatch as never, () => {});
    return group;
  }

  private close(group: Group): void {
    this.groups.delete(group.key);
    const orgGroups = this.ofOrg.get(group.orgId);
    orgGroups?.delete(group);
    if (orgGroups?.size === 0) this.ofOrg.delete(group.orgId);
    this.aedes!.unsubscribe(group.topicFilter, group.dispatch as never, () => {});
  }

  /**
   * The member to hand a message (on an internal topic) to: the first, from the group's turn on,
   * whose connection is open, whose aedes subscription is in place, whose rights allow the topic and
   * that has not already been sent this very message through another subscription (aedes sends a
   * client a message once: the group's copy would be dropped, at that subscription's QoS).
   */
  private pick(group: Group, message: { topic: string; brokerId?: string; brokerCounter?: number }, advance: boolean): Member | null {
    const topic = clientTopic(group.orgId, message.topic);
    if (topic === null) return null;
    const n = group.members.length;
    for (let k = 0; k < n; k++) {
      const i = (group.next + k) % n;
      const m = group.members[i]!;
      const s = this.sessionOf(m);
      if (m.closed || !m.subscriptions[group.key] || !s || s.closed || s.endReason !== null || !s.rights.canReceive(topic)) continue;
      if (message.brokerId !== undefined && (m.duplicates[message.brokerId] ?? 0) >= message.brokerCounter!) continue;
      if (advance) group.next = (i + 1) % n;
      return m;
    }
    return null;
  }
}
