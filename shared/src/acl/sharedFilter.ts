// Shared subscriptions (MQTT 5 §4.8.2, and for 3.1.1 clients as EMQX, HiveMQ and Mosquitto serve
// them): `$share/<ShareName>/<filter>`. The ShareName names a group; each message matching the
// filter goes to one member of the group. The filter is authorised as an ordinary subscription.
import { SHARED_ROOT } from './reserved.js';
import { filterProblem } from './topics.js';

export interface SharedFilter {
  group: string;
  filter: string;
}

const PREFIX = `${SHARED_ROOT}/`;

/**
 * `$share/<group>/<filter>` split into its parts; `{ problem }` when it is malformed (a Protocol
 * Error: an empty ShareName or one holding `+` or `#`, or no valid filter after it); null when
 * `filter` is not a shared subscription.
 */
export function parseSharedFilter(filter: string): SharedFilter | { problem: string } | null {
  if (!filter.startsWith(PREFIX)) return null;
  const slash = filter.indexOf('/', PREFIX.length);
  const group = filter.slice(PREFIX.length, slash < 0 ? undefined : slash);
  if (group.length === 0 || group.includes('+') || group.includes('#')) {
    return { problem: "a shared subscription's ShareName must be at least one character, without '+', '#' or '/'" };
  }
  const shared = slash < 0 ? '' : filter.slice(slash + 1);
  const problem = filterProblem(shared);
  return problem === null ? { group, filter: shared } : { problem: `shared subscription: ${problem}` };
}

export const isSharedFilter = (filter: string): boolean => filter.startsWith(PREFIX);
