// The `$` topic spaces that are not tenants' application topics. CloudSignal's packages put their
// own topics under `$` (`$notifications/…`, `$spaces/…`): those are ordinary tenant topics, granted
// by rules like any other (MQTT's rule that a leading `#` or `+` never matches a `$` topic holds).
// Reserved are `$SYS` (the broker's), `$presence` (published by the broker; subscribing needs the
// presence permission) and `$share` (a form of subscription, never a topic).
export const PRESENCE_ROOT = '$presence';
export const SHARED_ROOT = '$share';
const RESERVED_ROOTS: ReadonlySet<string> = new Set(['$SYS', PRESENCE_ROOT, SHARED_ROOT]);

/** The reserved `$` root that `topicOrFilter` lies under (its first level), or null. */
export function reservedRootOf(topicOrFilter: string): string | null {
  if (!topicOrFilter.startsWith('$')) return null;
  const slash = topicOrFilter.indexOf('/');
  const root = slash < 0 ? topicOrFilter : topicOrFilter.slice(0, slash);
  return RESERVED_ROOTS.has(root) ? root : null;
}

export const isPresenceFilter = (f: string) => reservedRootOf(f) === PRESENCE_ROOT;
