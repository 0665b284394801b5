// Whose will a stored will is. In a cluster a will outlives the node its connection was on: the
// node that finds that one dead publishes it (cluster/wills.ts) with no connection and no session
// to ask, so the will carries its owner, written with it into persistence, and the PUBLISH hook
// checks the owner's rights now (hooks/publish.ts).
import type { ClientSession } from './sessions.js';

export type WillOwner = Pick<ClientSession, 'orgId' | 'clientId' | 'userId' | 'userRef' | 'tokenId'> & {
  /** Seconds after the connection ends that the will is due (MQTT 5 Will Delay Interval, at most the session's expiry). */
  delaySeconds: number;
};

/** The field of a stored will packet that holds its owner. */
const OWNER_FIELD = 'signalgateOwner';

export function withOwner<P extends object>(packet: P, owner: WillOwner): P {
  return { ...packet, [OWNER_FIELD]: owner };
}

export function ownerOf(packet: object): WillOwner | null {
  const owner = (packet as Record<string, unknown>)[OWNER_FIELD] as WillOwner | undefined;
  return owner && typeof owner.orgId === 'string' && typeof owner.tokenId === 'string' ? owner : null;
}
