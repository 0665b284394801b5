// MQTT topic names and filters (MQTT 3.1.1 §4.7), plus the containment test the SPEC needs:
// a filter is granted only if every topic it can match is allowed.
import mqttMatch from 'mqtt-match';
import { isWellFormedWireText } from '../text.js';

const MAX_TOPIC_BYTES = 65535;

/** Why `topic` is not a valid PUBLISH topic name, or null when it is. */
export function topicNameProblem(topic: string): string | null {
  if (typeof topic !== 'string' || topic.length === 0) return 'topic must not be empty';
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) return 'topic is longer than 65535 bytes';
  if (topic.includes('\u0000')) return 'topic must not contain NUL';
  if (!isWellFormedWireText(topic)) return 'topic must be well-formed Unicode (no lone surrogate, no U+FFFD)';
  if (topic.includes('+') || topic.includes('#')) return 'topic names must not contain wildcards (+ or #)';
  return null;
}

/** Why `filter` is not a valid subscription filter, or null when it is. */
export function filterProblem(filter: string): string | null {
  if (typeof filter !== 'string' || filter.length === 0) return 'filter must not be empty';
  if (Buffer.byteLength(filter, 'utf8') > MAX_TOPIC_BYTES) return 'filter is longer than 65535 bytes';
  if (filter.includes('\u0000')) return 'filter must not contain NUL';
  if (!isWellFormedWireText(filter)) return 'filter must be well-formed Unicode (no lone surrogate, no U+FFFD)';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return "'#' must be a whole level and the last one";
    if (level.includes('+') && level !== '+') return "'+' must be a whole level";
  }
  return null;
}

const isWildcard = (level: string) => level === '+' || level === '#';

/**
 * Does `filter` match the topic name `topic`? mqtt-match does the level walk; the rule it lacks
 * (§4.7.2: a filter starting with a wildcard never matches a topic starting with `$`) is added here.
 */
export function topicMatchesFilter(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && isWildcard(filter.split('/', 1)[0]!)) return false;
  return mqttMatch(filter, topic);
}

/**
 * Is every topic that `inner` can match also matched by `outer`? (`chat/+/x` ⊆ `chat/#`,
 * `chat/#` ⊄ `chat/room1`.) Both must be valid filters.
 */
export function isFilterCovered(inner: string, outer: string): boolean {
  const i = inner.split('/');
  const o = outer.split('/');
  for (let k = 0; k < o.length; k++) {
    const out = o[k]!;
    const inn = i[k];
    if (out === '#') {
      // `#` also matches the parent level (`a/#` matches `a`), so a shorter inner is covered too;
      // but a leading `#` does not match `$` topics.
      return !(k === 0 && inn !== undefined && inn.startsWith('$'));
    }
    // A leading inner `#` matches every non-$ topic; so does `+/#` (every topic has a first level, and
    // both skip `$` topics). Deeper down, inner `#` also matches the parent, which `+/#` does not.
    if (inn === '#' && k === 0 && out === '+' && o.length === 2 && o[1] === '#') return true;
    if (inn === undefined || inn === '#') return false;
    if (out === '+') {
      if (k === 0 && inn.startsWith('$')) return false;
      continue;
    }
    if (inn !== out) return false; // inner `+` is wider than a literal
  }
  return i.length === o.length;
}

/** Is `filter` covered by at least one filter of `allowed`? (Sound: never says yes wrongly.) */
export function isFilterCoveredBySet(filter: string, allowed: readonly string[]): boolean {
  for (const f of allowed) if (isFilterCovered(filter, f)) return true;
  return false;
}

export function topicAllowedBySet(topic: string, allowed: readonly string[]): boolean {
  for (const f of allowed) if (topicMatchesFilter(f, topic)) return true;
  return false;
}

/**
 * Could some topic name match both filters? (`chat/#` and `chat/admin/x` do; `a/+` and `b/#` do
 * not.) A deny filter refuses a subscription it overlaps: the subscription could receive a
 * denied topic. `#` also matches its parent level, and a leading wildcard never matches a `$` topic.
 */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  for (let k = 0; k < Math.max(x.length, y.length); k++) {
    const p = x[k];
    const q = y[k];
    if (k === 0) {
      // A literal `$…` first level is matched only by that same literal.
      const pDollar = p !== undefined && !isWildcard(p) && p.startsWith('$');
      const qDollar = q !== undefined && !isWildcard(q) && q.startsWith('$');
      if ((pDollar && q !== undefined && isWildcard(q)) || (qDollar && p !== undefined && isWildcard(p))) return false;
    }
    if (p === '#' || q === '#') return true;
    if (p === undefined || q === undefined) return false;
    if (p !== '+' && q !== '+' && p !== q) return false;
  }
  return true;
}
