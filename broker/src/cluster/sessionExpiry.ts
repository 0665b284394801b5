// MQTT 5 session expiry across the cluster (issue 16). aedes times a stored session's expiry in the
// memory of the node its connection closed on, so a node that dies (or restarts) would keep its
// sessions in Redis for ever. Here the deadline lives in Redis too:
// - a connection whose session outlives it is listed under its node (holders.ts CLAIM);
// - at its close the session moves to EXPIRING, scored by its deadline (holders.ts RELEASE);
// - a CONNECT of the id on any node takes it off (CLAIM), so it is never wiped under a resumer;
// - a dead node's listed sessions move to EXPIRING with their full interval from when it was
//   found dead, unless the id was taken since by a connection elsewhere;
// - every beat, one node pops what is due (one script: each session is wiped once) and wipes it.
import type { Redis } from 'ioredis';
import { EXPIRING, HOLDER_PREFIX, nodeSessionsKey } from './keys.js';
import type { ClusterNodes } from './nodes.js';

/** Sessions wiped per beat at most: a backlog drains over a few beats instead of stalling one. */
const WIPES_PER_BEAT = 500;

/** KEYS[1] EXPIRING; ARGV: now (ms), how many. Pops the sessions due. */
const DUE = `local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due`;

/**
 * KEYS: the dead node's sessions, EXPIRING; ARGV: holder-key prefix, the dead node's token prefix
 * (`<node>:`), now (ms). Sessions whose id is held by a connection made elsewhere since are skipped.
 */
const ORPHANED = `local list = redis.call('HGETALL', KEYS[1])
for i = 1, #list, 2 do
  local holder = redis.call('GET', ARGV[1] .. list[i])
  if holder and string.sub(holder, 1, string.len(ARGV[2])) == ARGV[2] then
    redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(list[i + 1]) * 1000, list[i])
  end
end
redis.call('DEL', KEYS[1])
return #list / 2`;

export function expireSessionsAcrossNodes(db: Redis, nodes: ClusterNodes, wipe: (clientId: string) => void): void {
  nodes.onDead(async (node) => {
    await db.eval(ORPHANED, 2, nodeSessionsKey(node), EXPIRING, HOLDER_PREFIX, `${node}:`, Date.now());
  });
  nodes.everyBeat('session expiry', async () => {
    const due = (await db.eval(DUE, 1, EXPIRING, Date.now(), WIPES_PER_BEAT)) as string[];
    due.forEach(wipe);
  });
}
