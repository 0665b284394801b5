// Tenant isolation by topic namespacing. Every organisation gets its own subtree of the one broker
// topic tree; clients only ever see their own, un-prefixed topics. `$`-topics move under a `$`-root
// of their own (`$presence/u` → `$org_x/presence/u`) so that a client's `#` (stored as `org_x/#`)
// still never matches them: MQTT's rule that wildcards skip `$` topics (§4.7.2) survives the move.
// The mapping works level-wise, so it serves topic names and subscription filters alike.
import { ORG_ID_PATTERN } from '../credentials/secrets.js';

/** A topic no tenant subscription can match (it lies outside every org's namespace): a refused publish is moved here. */
export const DROPPED_TOPIC = '$signalgate/dropped';

/** What a refused subscription filter becomes: outside every org's namespace, and matching no topic anything is published on. */
export const REFUSED_FILTER = '$signalgate/refused';

/** The broker-internal form of a client-visible topic name or filter of `orgId`. */
export function internalTopic(orgId: string, topic: string): string {
  return topic.startsWith('$') ? `$${orgId}/${topic.slice(1)}` : `${orgId}/${topic}`;
}

/** The client-visible form of an internal topic, or null when it lies outside `orgId`'s namespace. */
export function clientTopic(orgId: string, internal: string): string | null {
  if (internal.startsWith('$')) {
    return internal.length > orgId.length + 2 && internal.startsWith(orgId, 1) && internal[orgId.length + 1] === '/'
      ? `$${internal.slice(orgId.length + 2)}`
      : null;
  }
  return internal.length > orgId.length + 1 && internal.startsWith(orgId) && internal[orgId.length] === '/'
    ? internal.slice(orgId.length + 1)
    : null;
}

/** Which organisation an internal topic belongs to, and its client-visible form; null for broker topics ($SYS, dropped). */
export function splitInternalTopic(internal: string): { orgId: string; topic: string } | null {
  const dollar = internal.startsWith('$') ? 1 : 0;
  const slash = internal.indexOf('/', dollar);
  if (slash < 0) return null;
  const orgId = internal.slice(dollar, slash);
  if (!ORG_ID_PATTERN.test(orgId)) return null;
  const rest = internal.slice(slash + 1);
  if (rest.length === 0) return null;
  return { orgId, topic: dollar ? `$${rest}` : rest };
}

/** Topic levels the namespace prefix adds (brokers cap levels; clients get one fewer). */
export const NAMESPACE_LEVELS = 1;

/** aedes and its topic trie stop at 100 levels; the organisation prefix uses one of them. */
export const MAX_CLIENT_TOPIC_LEVELS = 100 - NAMESPACE_LEVELS;

export const topicLevels = (topic: string): number => {
  let n = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) n++;
  return n;
};
