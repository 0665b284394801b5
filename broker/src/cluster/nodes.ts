// The cluster's members (issue 16). Each node refreshes its key (`signalgate:node:<id>`, alive for
// three beats) and is listed in `signalgate:nodes`. A listed node whose key has expired is dead
// (kill -9, a lost machine): the live node that sees so moves it to `signalgate:nodes:departed`,
// and one live node at a time claims a departed node (a key that expires) and runs the onDead
// handlers, which take care of what it left behind: its wills, its sessions' expiry, its users'
// presence. Only once they all succeeded is the node off the departed list; a claimer that dies or
// fails part-way lets its claim expire and another node runs them again (each handler can run
// twice: it works from what is still in Redis and removes it as it goes).
import type { ChainableCommander, Redis } from 'ioredis';
import { cleanupClaimKey, CLEANUP_CLAIM_PREFIX, DEPARTED, fencedKey, NODES, nodeKey, NODE_PREFIX } from './keys.js';

/**
 * KEYS: the nodes set, the departed set; ARGV: the node-key prefix, this node, the claim's TTL
 * (seconds), the claim-key prefix. Returns [live nodes, departed nodes this node now claims].
 */
const SWEEP = `local live, mine = {}, {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. node) == 1 then table.insert(live, node)
  else
    redis.call('SREM', KEYS[1], node)
    redis.call('SADD', KEYS[2], node)
  end
end
for _, node in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[1] .. node) == 1 then redis.call('SREM', KEYS[2], node)
  elseif redis.call('SET', ARGV[4] .. node, ARGV[2], 'NX', 'EX', tonumber(ARGV[3])) then table.insert(mine, node) end
end
return {live, mine}`;

type DeadHandler = (node: string) => Promise<void>;

export class ClusterNodes {
  private readonly beatCommands: ((m: ChainableCommander) => void)[] = [];
  private readonly deadHandlers: DeadHandler[] = [];
  /** Work after every beat; a task still running from an earlier beat is not started again. */
  private readonly afterBeat: { what: string; task: () => Promise<unknown>; running: boolean }[] = [];
  private readonly fencedHandlers: (() => void)[] = [];
  private live = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Redis,
    readonly nodeId: string,
    readonly heartbeatMs: number,
    private readonly onError: (err: unknown, what: string) => void,
  ) {
    this.live.add(nodeId);
  }

  /** Seconds a node's key outlives its last beat. */
  get ttlSeconds(): number {
    return Math.max(1, Math.ceil((3 * this.heartbeatMs) / 1000));
  }

  /** Adds commands to every beat (refreshing the expiry of this node's own keys). */
  onBeat(commands: (m: ChainableCommander) => void): void {
    this.beatCommands.push(commands);
  }

  /** After every beat (sweeps of due work that every node shares); a failure is reported as `what`. */
  everyBeat(what: string, task: () => Promise<unknown>): void {
    this.afterBeat.push({ what, task, running: false });
  }

  /** Runs once per dead node, on the one live node that found it. */
  onDead(handler: DeadHandler): void {
    this.deadHandlers.push(handler);
  }

  /**
   * This node was found dead while it was not (it missed three beats: a long pause, a partition
   * from Redis): its wills were published, its sessions given deadlines, its users taken offline.
   * Its connections no longer match what the cluster believes, so the handlers end them (clients
   * reconnect and state is made again), and the node carries on.
   */
  onFenced(handler: () => void): void {
    this.fencedHandlers.push(handler);
  }

  /** Live nodes as of the last beat, this one included. */
  get liveNodes(): ReadonlySet<string> {
    return this.live;
  }

  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.heartbeatMs);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    try {
      const m = this.db.multi().set(nodeKey(this.nodeId), '1', 'EX', this.ttlSeconds).sadd(NODES, this.nodeId).getdel(fencedKey(this.nodeId));
      for (const add of this.beatCommands) add(m);
      // Another node started handling this one as dead (cleanUp marks it first): what it did
      // (wills published, users offline) stands, so this node's connections end.
      if ((await m.exec())?.[2]?.[1] !== null) {
        this.onError(new Error('this node was taken for dead by the cluster (missed beats); ending its connections'), 'cluster heartbeat');
        for (const fenced of this.fencedHandlers) fenced();
      }
      const [live, claimed] = (await this.db.eval(SWEEP, 2, NODES, DEPARTED, NODE_PREFIX, this.nodeId, this.claimSeconds, CLEANUP_CLAIM_PREFIX)) as [string[], string[]];
      this.live = new Set([...live, this.nodeId]);
      for (const node of claimed) void this.cleanUp(node);
      for (const t of this.afterBeat) {
        if (t.running) continue;
        t.running = true;
        t.task().catch((err) => this.onError(err, t.what)).finally(() => { t.running = false; });
      }
    } catch (err) {
      this.onError(err, 'cluster heartbeat');
    }
  }

  /** How long a claim on a departed node lasts: its handlers are run again by someone after it. */
  private get claimSeconds(): number {
    return Math.max(30, 10 * this.ttlSeconds);
  }

  private async cleanUp(node: string): Promise<void> {
    try {
      // Marked before anything is done: if the node was only paused, it fences itself (onFenced).
      await this.db.set(fencedKey(node), '1', 'EX', 86_400);
      for (const handler of this.deadHandlers) await handler(node);
      await this.db.multi().srem(DEPARTED, node).del(cleanupClaimKey(node)).exec();
    } catch (err) {
      this.onError(err, `handling departed node ${node} (retried when the claim expires)`);
    }
  }

  /**
   * This node leaves: its key goes at once, and the next beat of another node handles it as a dead
   * one (its delayed wills, its users' presence), so that work never waits on a node that is gone.
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // Bounded: with Redis away the command would wait for it (the key's expiry does it then).
    await Promise.race([
      this.db.del(nodeKey(this.nodeId)).catch((err) => this.onError(err, 'node leaving')),
      new Promise((resolve) => setTimeout(resolve, 1000).unref()),
    ]);
  }
}
