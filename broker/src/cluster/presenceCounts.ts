// Presence across the cluster (issue 16): a user is online while they have a session on any node,
// so "online" and "offline" flip once per user, not once per node. Each node lists the users it has
// sessions for (`signalgate:presence:<node>`), and a cluster-wide hash counts the nodes per user.
// A node asks Redis only when a user's first session there opens and their last one there ends
// (presence.ts counts the sessions in between). A dead node's users are taken off by the node that
// finds it dead, which publishes "offline" for those it was the last node of.
import type { Redis } from 'ioredis';
import { nodePresenceKey, PRESENCE } from './keys.js';
import type { ClusterNodes } from './nodes.js';

export interface PresenceSubject {
  orgId: string;
  userId: string;
  userRef: string;
}

/** KEYS: this node's users, the cluster's; ARGV: the user. 1: the user's first node. */
const FIRST = `redis.call('HSET', KEYS[1], ARGV[1], 1)
return redis.call('HINCRBY', KEYS[2], ARGV[1], 1) == 1 and 1 or 0`;
/** KEYS: this node's users, the cluster's; ARGV: the user. 1: it was the user's last node. */
const LAST = `if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) > 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`;
/** KEYS: the dead node's users, the cluster's. Returns the users it was the last node of. */
const DEAD = `local gone = {}
for _, user in ipairs(redis.call('HKEYS', KEYS[1])) do
  if redis.call('HINCRBY', KEYS[2], user, -1) <= 0 then
    redis.call('HDEL', KEYS[2], user)
    table.insert(gone, user)
  end
end
redis.call('DEL', KEYS[1])
return gone`;

const SEP = '\u0000';
const fieldOf = (s: PresenceSubject) => [s.orgId, s.userRef, s.userId].join(SEP);
const subjectOf = (field: string): PresenceSubject => {
  const [orgId = '', userRef = '', userId = ''] = field.split(SEP);
  return { orgId, userRef, userId };
};

export class ClusterPresence {
  private readonly mine: string;

  constructor(private readonly db: Redis, private readonly nodes: ClusterNodes) {
    this.mine = nodePresenceKey(nodes.nodeId);
  }

  /** Before the heartbeat starts: how to say "offline" for the users a dead node was the last node of. */
  whenNodeDies(offline: (s: PresenceSubject) => void): void {
    this.nodes.onDead(async (node) => {
      const gone = (await this.db.eval(DEAD, 2, nodePresenceKey(node), PRESENCE)) as string[];
      for (const field of gone) offline(subjectOf(field));
    });
  }

  /** `s`'s first session on this node opened: true when it is their first node in the cluster. */
  async first(s: PresenceSubject): Promise<boolean> {
    return (await this.db.eval(FIRST, 2, this.mine, PRESENCE, fieldOf(s))) === 1;
  }

  /** `s`'s last session on this node ended: true when this was their last node. */
  async last(s: PresenceSubject): Promise<boolean> {
    return (await this.db.eval(LAST, 2, this.mine, PRESENCE, fieldOf(s))) === 1;
  }
}
