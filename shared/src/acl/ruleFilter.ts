// Which filters a rule set may hold. Pure (no Node APIs beyond what topics.ts needs) so the
// dashboard bundles the very same check and explains a bad filter while the operator types.
import { filterProblem } from './topics.js';
import { unknownPlaceholders } from './placeholders.js';
import { PRESENCE_ROOT, reservedRootOf } from './reserved.js';

/** Why a filter cannot be used in a rule (structure, placeholders, a reserved `$` space), or null. */
export function ruleFilterProblem(filter: string): string | null {
  const structural = filterProblem(filter);
  if (structural) return structural;
  const unknown = unknownPlaceholders(filter);
  if (unknown.length > 0) return `unknown placeholder \${${unknown[0]}} (use \${user_id}, \${user_email} or \${client_id})`;
  // `${user_id}/#` starts with a placeholder, not a `$` topic: placeholder values never start with `$`.
  const reserved = reservedRootOf(filter);
  if (reserved !== null) {
    return reserved === PRESENCE_ROOT
      ? '$presence topics are granted by the presence permission, not by a rule'
      : `${reserved} is reserved ($SYS belongs to the broker, $share is a form of subscription)`;
  }
  return null;
}
