// Every Redis key the cluster code writes (aedes-persistence-redis keeps its own: `will:…`,
// `client:…`, `outgoing:…`, `retained`). One place, so that a script's key prefix and the
// TypeScript that builds the same key cannot drift apart.

/** The nodes that have announced themselves (a dead one is removed by the node that finds it). */
export const NODES = 'signalgate:nodes';
/** Nodes found dead whose leftovers (wills, sessions, presence) are not all handled yet. */
export const DEPARTED = 'signalgate:nodes:departed';
/** Which node is handling a departed node's leftovers (expires: another node takes over). */
export const CLEANUP_CLAIM_PREFIX = 'signalgate:cleanup:';
export const cleanupClaimKey = (node: string) => `${CLEANUP_CLAIM_PREFIX}${node}`;
/** Set when another node starts handling this one as departed: a node that was only paused fences itself. */
export const fencedKey = (node: string) => `signalgate:fenced:${node}`;
/** A node's liveness key (expires three beats after its last). */
export const NODE_PREFIX = 'signalgate:node:';
export const nodeKey = (node: string) => `${NODE_PREFIX}${node}`;

/** Which connection holds a client id (holders.ts). */
export const HOLDER_PREFIX = 'signalgate:holder:';
export const holderKey = (clientId: string) => `${HOLDER_PREFIX}${clientId}`;

/** An organisation's client ids held by one node (orgConnections.ts): the prefix a script completes with the node. */
export const orgConnectionsPrefix = (orgId: string) => `signalgate:conns:${orgId}:`;
export const orgConnectionsKey = (orgId: string, node: string) => `${orgConnectionsPrefix(orgId)}${node}`;

/** Stored sessions a node's connections hold, with their expiry in seconds (sessionExpiry.ts). */
export const nodeSessionsKey = (node: string) => `signalgate:sessions:${node}`;
/** Stored sessions without a connection, scored by the time (ms) they expire. */
export const EXPIRING = 'signalgate:expiring';

/** aedes-persistence-redis' list of will keys (`will:<node>:<client id>`). */
export const WILLS_LIST = 'will';
/** The prefix of a node's will keys (the client id follows, URI-encoded by the persistence). */
export const willKeyPrefix = (node: string) => `will:${node}:`;
export const willKey = (node: string, clientId: string) => `${willKeyPrefix(node)}${encodeURIComponent(clientId)}`;

/** Wills of dead nodes waiting for their Will Delay Interval, scored by the time (ms) they are due (wills.ts). */
export const DELAYED_WILLS = 'signalgate:delayed-wills';
/** For each such client id, the will (JSON), taken out of the persistence. */
export const DELAYED_WILL_PACKETS = 'signalgate:delayed-will-packets';

/** Users with sessions on one node, `<org>\0<userRef>\0<userId>` → sessions there (presenceCounts.ts). */
export const nodePresenceKey = (node: string) => `signalgate:presence:${node}`;
/** The same users cluster-wide → nodes they have sessions on. */
export const PRESENCE = 'signalgate:presence';

/** A cluster-wide rate bucket (orgRates.ts): an org's messages or bytes per second, a token's messages per second. */
export const rateKey = (of: 'org_messages' | 'org_bytes' | 'token', id: string) => `signalgate:rate:${of}:${id}`;

/** An organisation's retained topics → bytes (topic and payload), counted against its quota (retainedQuota.ts). */
export const retainedTopicsKey = (orgId: string) => `signalgate:retained:${orgId}`;
/** The sum of that hash's values. */
export const retainedBytesKey = (orgId: string) => `signalgate:retained-bytes:${orgId}`;

/** Each node's open connections as of its last beat, node → count (cluster gauges, metrics.ts). */
export const NODE_CONNECTIONS = 'signalgate:node-connections';

/** A `$share` group's members per node, node → count (sharedAcrossNodes.ts). */
export const shareKey = (group: string) => `signalgate:share:${group}`;
/** The groups a node has members in (so that a departed node's counts can be removed). */
export const nodeShareGroupsKey = (node: string) => `signalgate:share-groups:${node}`;
