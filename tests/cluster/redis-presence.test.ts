// Presence in a Redis cluster (issue 16): a user's "online" and "offline" flip once per user, not
// once per node, and a node that dies (kill -9) or leaves (SIGTERM) does not leave its users online.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { Services } from '@signalgate/shared';
import type { RunningCli } from '../../cli/test/support.js';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { connectClient, eventually } from '../support/stack.js';

let cluster: TestCluster;
let services: Services;
let nodes: RunningCli[];
let orgId: string;
/** Status of each presence message the watcher (on node A) received, per user. */
const statuses = new Map<string, string[]>();

beforeAll(async () => {
  cluster = await startCluster('cluster-presence', { nodes: 3, env: { SIGNALGATE_CLUSTER_HEARTBEAT_MS: '300' } });
  ({ services, nodes } = cluster);
  orgId = (await services.orgs.create('Presence')).org.id;
  const watcher = await client(nodes[0]!, 'watcher');
  watcher.on('message', (topic, payload, packet) => {
    if (packet.retain) return; // what was retained before it subscribed
    const user = topic.slice('$presence/'.length);
    statuses.set(user, [...(statuses.get(user) ?? []), (JSON.parse(payload.toString()) as { status: string }).status]);
  });
  await watcher.subscribeAsync('$presence/+', { qos: 0 });
}, 120_000);
afterAll(() => cluster?.stop());

async function client(node: RunningCli, userId: string): Promise<MqttClient> {
  const t = await services.tokens.mint({ orgId, userId });
  const c = await connectClient(node.summary.mqtt_url!, { username: t.username, password: t.password, protocolVersion: 5, reconnectPeriod: 0 });
  cluster.clients.push(c);
  return c;
}

const settle = () => new Promise((r) => setTimeout(r, 500));

describe('presence across nodes', () => {
  test('online when the first session opens on any node, offline when the last one ends on any node: once each', async () => {
    const onA = await client(nodes[0]!, 'carol');
    await eventually(() => statuses.get('carol')?.length === 1, 3000);
    const onB = await client(nodes[1]!, 'carol');
    const onC = await client(nodes[2]!, 'carol');
    await settle();
    await onA.endAsync();
    await onB.endAsync();
    await settle();
    expect(statuses.get('carol')).toEqual(['online']);
    await onC.endAsync();
    await eventually(() => statuses.get('carol')?.length === 2, 3000);
    await settle();
    expect(statuses.get('carol')).toEqual(['online', 'offline']);
  });

  test('a node killed with SIGKILL: the users it was the last node of go offline; one still on another node stays online', async () => {
    await client(nodes[1]!, 'dave');
    await client(nodes[1]!, 'erin');
    await client(nodes[2]!, 'erin');
    await eventually(() => statuses.get('dave')?.length === 1 && statuses.get('erin')?.length === 1, 3000);
    await nodes[1]!.stop('SIGKILL');
    await eventually(() => statuses.get('dave')?.length === 2, 5000);
    await settle();
    expect(statuses.get('dave')).toEqual(['online', 'offline']);
    expect(statuses.get('erin')).toEqual(['online']);
  });

  test('a node leaving with SIGTERM: its users go offline too', async () => {
    await client(nodes[2]!, 'frank');
    await eventually(() => statuses.get('frank')?.length === 1, 3000);
    await nodes[2]!.stop('SIGTERM');
    await eventually(() => statuses.get('frank')?.length === 2 && statuses.get('erin')?.length === 2, 5000);
    expect(statuses.get('frank')).toEqual(['online', 'offline']);
    expect(statuses.get('erin')).toEqual(['online', 'offline']);
  });
});
