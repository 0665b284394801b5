// Why a publish or subscribe is allowed or denied: the same decision EffectiveRights makes, told
// layer by layer so the dashboard's "test a topic" box can name the rule that decided. Kept pure
// and next to rights.ts; a property test holds the two to the same verdict on every input.
import { filterProblem, filtersOverlap, isFilterCovered, topicMatchesFilter, topicNameProblem } from './topics.js';
import { expandPlaceholders, type PlaceholderValues } from './placeholders.js';
import { expandDenyFilter, type RuleLayer } from './rights.js';
import { isPresenceFilter, reservedRootOf } from './reserved.js';

export type AclAction = 'publish' | 'subscribe';

/** A layer of the intersection with the name a person recognises ("integration 'web-app'"). */
export interface NamedLayer {
  name: string;
  layer: RuleLayer;
}

/** A filter of a layer as written, and what it became for this user and client. */
export interface ExpandedFilter {
  filter: string;
  /** null when the filter grants nothing here (placeholder without a safe value). */
  expanded: string | null;
}

export interface LayerVerdict {
  layer: string;
  allowed: boolean;
  /** The layer does not restrict this action at all (an inherited `null`). */
  unrestricted: boolean;
  /** The filter that allowed, as written in the layer (null when denied or unrestricted). */
  filter: string | null;
  /** What that filter became after placeholders (equals `filter` without placeholders). */
  expanded: string | null;
  /** One sentence for people. */
  reason: string;
}

export interface AclExplanation {
  action: AclAction;
  topic: string;
  allowed: boolean;
  /** For a deny: the first refusing layer (null when the topic itself is refused). For an allow: the innermost restricting layer and its filter. */
  decided_by: { layer: string | null; filter: string | null; reason: string };
  layers: LayerVerdict[];
}


function expandAll(filters: readonly string[], values: PlaceholderValues): ExpandedFilter[] {
  return filters.map((filter) => {
    const e = expandPlaceholders(filter, values);
    return { filter, expanded: e !== null && filterProblem(e) === null ? e : null };
  });
}

function verdictOf(name: string, action: AclAction, topic: string, layer: RuleLayer, values: PlaceholderValues): LayerVerdict {
  // Deny wins inside a layer: a deny filter that matches the topic (or reaches into the filter) decides.
  for (const filter of (action === 'publish' ? layer.denyPublish : layer.denySubscribe) ?? []) {
    const expanded = expandDenyFilter(filter, values);
    if (action === 'publish' ? topicMatchesFilter(expanded, topic) : filtersOverlap(topic, expanded)) {
      const via = expanded !== filter ? ` (here '${expanded}')` : '';
      const what = action === 'publish' ? 'denies it' : `denies part of what '${topic}' can match`;
      return { layer: name, allowed: false, unrestricted: false, filter, expanded, reason: `${name} ${what} by '${filter}'${via}` };
    }
  }
  const list = layer[action];
  if (list === null) return { layer: name, allowed: true, unrestricted: true, filter: null, expanded: null, reason: `${name} does not restrict ${action}` };
  const filters = expandAll(list, values);
  const decides = (e: string) => (action === 'publish' ? topicMatchesFilter(e, topic) : isFilterCovered(topic, e));
  const hit = filters.find((f) => f.expanded !== null && decides(f.expanded));
  if (hit) {
    const via = hit.expanded !== hit.filter ? ` (here '${hit.expanded}')` : '';
    return { layer: name, allowed: true, unrestricted: false, filter: hit.filter, expanded: hit.expanded, reason: `${name} allows it by '${hit.filter}'${via}` };
  }
  let reason: string;
  if (list.length === 0) reason = `${name} has no ${action} filters`;
  else {
    const dead = filters.filter((f) => f.expanded === null).map((f) => `'${f.filter}'`);
    const partial = action === 'subscribe' ? filters.find((f) => f.expanded !== null && filtersOverlap(topic, f.expanded)) : undefined;
    reason = `none of the ${list.length} ${action} filter(s) of ${name} ${action === 'publish' ? 'matches' : 'covers'} '${topic}'`;
    if (partial) reason += `; '${partial.filter}' covers only part of what '${topic}' can match`;
    if (dead.length > 0) reason += `; ${dead.join(', ')} grant(s) nothing for this user/client (placeholder without a usable value)`;
  }
  return { layer: name, allowed: false, unrestricted: false, filter: null, expanded: null, reason };
}

const refused = (action: AclAction, topic: string, reason: string): AclExplanation => ({
  action, topic, allowed: false, decided_by: { layer: null, filter: null, reason }, layers: [],
});

/**
 * Explains the verdict on `action` of `topic` (a topic name for publish, a filter for subscribe)
 * under the intersection of `layers`, with placeholders expanded from `values` exactly as at CONNECT.
 */
export function explainDecision(action: AclAction, topic: string, layers: readonly NamedLayer[], values: PlaceholderValues): AclExplanation {
  if (action === 'publish') {
    const problem = topicNameProblem(topic);
    if (problem) return refused(action, topic, `not a valid topic name: ${problem}`);
    const reserved = reservedRootOf(topic);
    if (reserved !== null) return refused(action, topic, `clients never publish into ${reserved} (reserved)`);
  } else {
    const problem = filterProblem(topic);
    if (problem) return refused(action, topic, `not a valid subscription filter: ${problem}`);
    if (isPresenceFilter(topic)) return explainPresence(topic, layers);
    const reserved = reservedRootOf(topic);
    if (reserved !== null) return refused(action, topic, `${reserved} is reserved: no rule grants it`);
  }

  const verdicts = layers.map(({ name, layer }) => verdictOf(name, action, topic, layer, values));
  const denied = verdicts.find((v) => !v.allowed);
  if (denied) return { action, topic, allowed: false, decided_by: { layer: denied.layer, filter: denied.filter, reason: denied.reason }, layers: verdicts };
  const innermost = [...verdicts].reverse().find((v) => !v.unrestricted);
  const decided_by = innermost
    ? { layer: innermost.layer, filter: innermost.filter, reason: verdicts.filter((v) => !v.unrestricted).map((v) => v.reason).join('; ') }
    : { layer: null, filter: null, reason: `no layer restricts ${action}` };
  return { action, topic, allowed: true, decided_by, layers: verdicts };
}

function explainPresence(topic: string, layers: readonly NamedLayer[]): AclExplanation {
  const verdicts: LayerVerdict[] = layers.map(({ name, layer }) => {
    if (layer.presence === null) return { layer: name, allowed: true, unrestricted: true, filter: null, expanded: null, reason: `${name} does not restrict presence` };
    return layer.presence
      ? { layer: name, allowed: true, unrestricted: false, filter: null, expanded: null, reason: `${name} grants the presence permission` }
      : { layer: name, allowed: false, unrestricted: false, filter: null, expanded: null, reason: `${name} does not grant the presence permission ($presence topics need it)` };
  });
  const denied = verdicts.find((v) => !v.allowed);
  if (denied) return { action: 'subscribe', topic, allowed: false, decided_by: { layer: denied.layer, filter: null, reason: denied.reason }, layers: verdicts };
  const last = [...verdicts].reverse().find((v) => !v.unrestricted);
  return {
    action: 'subscribe', topic, allowed: true, layers: verdicts,
    decided_by: { layer: last?.layer ?? null, filter: null, reason: last?.reason ?? 'no layer restricts presence' },
  };
}
