// Nothing acknowledged is lost across a Redis restart (issue 16). Messages cross nodes by Redis
// pub/sub, which keeps nothing: a PUBLISH that reaches a restarted Redis before a node's subscriber
// connection has subscribed again reaches no one on that node, and its sender has long been told
// PUBACK. Measured before this gate: a QoS 1 stream through a restart lost what was published in
// that window. So, from the moment this node's publishing connection drops, its messages wait
// here (their publishers get no PUBACK yet), and are sent once every live node's subscriber has
// subscribed again to the Redis now running: each node, when its subscriber is ready, sends a PING
// behind the re-subscriptions (ioredis sends them after its 'ready' event) and then marks itself
// with the Redis run id. A PUBLISH the dropped connection had in flight is failed by ioredis
// (`autoResendUnfulfilledCommands: false`, redisBackends.ts) and waits here too, instead of being
// resent into the window. A node that does not come back within WAIT_MS is not waited for.
import type { Redis } from 'ioredis';
import type { ClusterNodes } from './nodes.js';
import { subscriberReadyKey } from './keys.js';

/** How long held messages wait for the other nodes' subscribers before they are sent anyway. */
const WAIT_MS = 5000;
const POLL_MS = 25;
/** Messages held at most; past it a message fails (a QoS 1/2 publisher resends it, unacknowledged). */
const MAX_HELD = 50_000;

type Done = (err?: Error | null) => void;
interface Emitter {
  emit(msg: unknown, done?: Done): void;
}

export function holdAcrossRestarts(mq: Emitter, conns: { pub: Redis; sub: Redis; db: Redis }, nodes: ClusterNodes, onError: (err: unknown, what: string) => void): void {
  const { pub, sub, db } = conns;
  let holding = false;
  let releasing = false;
  const held: [unknown, Done | undefined][] = [];
  const emit = mq.emit.bind(mq);

  const send = (msg: unknown, done?: Done) => {
    emit(msg, (err) => {
      if (!err || pub.status === 'end') return done?.(err);
      hold(msg, done); // the connection dropped under it: sent again once the gate opens
    });
  };
  const hold = (msg: unknown, done?: Done) => {
    holding = true;
    if (held.length >= MAX_HELD) return done?.(new Error('Redis unavailable: too many messages waiting'));
    held.push([msg, done]);
  };
  mq.emit = (msg, done) => (holding ? hold(msg, done) : send(msg, done));

  pub.on('close', () => { holding = true; });
  pub.on('ready', () => {
    if (!holding || releasing) return;
    releasing = true;
    void othersSubscribed().finally(() => {
      releasing = false;
      if (pub.status !== 'ready') return; // dropped again: the next 'ready' releases
      holding = false;
      for (const [msg, done] of held.splice(0)) send(msg, done);
    });
  });

  const runId = async () => /run_id:(\w+)/.exec(await db.info('server'))?.[1] ?? '';
  // This node's subscriber is back: say so, once its re-subscriptions are through.
  sub.on('ready', () => {
    setImmediate(() => {
      sub.ping()
        .then(runId)
        .then((id) => db.set(subscriberReadyKey(nodes.nodeId), id, 'EX', 86_400))
        .catch((err) => onError(err, 'subscriber ready mark'));
    });
  });

  const othersSubscribed = async () => {
    const until = Date.now() + WAIT_MS;
    try {
      const id = await runId();
      for (;;) {
        const live = [...nodes.liveNodes];
        const marks = await db.mget(live.map(subscriberReadyKey));
        if (marks.every((m) => m === id)) return;
        if (Date.now() > until) return onError(new Error(`nodes not subscribed again: ${live.filter((_, i) => marks[i] !== id).join(', ')}`), 'waiting for the cluster after a Redis restart');
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } catch (err) {
      onError(err, 'waiting for the cluster after a Redis restart');
    }
  };
}
