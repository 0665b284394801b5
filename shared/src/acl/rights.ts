// The rights model. Effective rights are the intersection of layers: the org's default rule set,
// the integration's rule set (if the token names one) and the token's own scopes. A layer allows
// an action when one of its filters does; the connection may act only when every layer allows.
import { filterProblem, filtersOverlap, isFilterCoveredBySet, topicAllowedBySet } from './topics.js';
import { expandPlaceholders, hasPlaceholders, type PlaceholderValues } from './placeholders.js';
import { isPresenceFilter, reservedRootOf } from './reserved.js';
import { parseSharedFilter } from './sharedFilter.js';

export const PERMISSIONS = ['publish', 'subscribe', 'presence', 'history'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * A rule set as stored: filter lists for each action plus the two capability flags, and filters
 * each action is denied on (deny wins over allow inside the set: `#` except `admin/#`).
 */
export interface Rules {
  publish: string[];
  subscribe: string[];
  presence: boolean;
  history: boolean;
  denyPublish?: string[];
  denySubscribe?: string[];
}

/**
 * One layer of the intersection; `null` means "this layer does not restrict that action". Deny
 * lists (absent: none) take away from what the layer's own lists allow.
 */
export interface RuleLayer {
  publish: string[] | null;
  subscribe: string[] | null;
  presence: boolean | null;
  history: boolean | null;
  denyPublish?: string[];
  denySubscribe?: string[];
}


/** What a mint request asks for, in any of the documented shapes (seeds 000–003). */
export interface ScopeRequest {
  permissions?: Permission[] | undefined;
  topics?: string[] | undefined;
  acl?: { publish?: string[] | undefined; subscribe?: string[] | undefined } | undefined;
}

/**
 * Turns a request's scopes into token layers. `permissions` + `topics` (seed 001) form one layer;
 * `acl` (seed 000/003) another, where an action left out of `acl` is not granted. A request with
 * neither inherits the upper layers unchanged.
 */
export function layersFromRequest(req: ScopeRequest): RuleLayer[] {
  const layers: RuleLayer[] = [];
  if (req.permissions !== undefined || req.topics !== undefined) {
    const topics = req.topics ?? null;
    const perms = req.permissions === undefined ? null : new Set<Permission>(req.permissions);
    const grants = (p: Permission) => perms === null || perms.has(p);
    layers.push({
      publish: grants('publish') ? topics : [],
      subscribe: grants('subscribe') ? topics : [],
      presence: perms === null ? null : perms.has('presence'),
      history: perms === null ? null : perms.has('history'),
    });
  }
  if (req.acl !== undefined) {
    layers.push({ publish: req.acl.publish ?? [], subscribe: req.acl.subscribe ?? [], presence: null, history: null });
  }
  return layers;
}

export const layerOfRules = (r: Rules): RuleLayer => {
  const layer: RuleLayer = { publish: r.publish, subscribe: r.subscribe, presence: r.presence, history: r.history };
  if (r.denyPublish?.length) layer.denyPublish = r.denyPublish;
  if (r.denySubscribe?.length) layer.denySubscribe = r.denySubscribe;
  return layer;
};

/** What a missing rule set (an org without default rules, a deleted integration) grants: nothing. */
export const DENY_ALL: RuleLayer = Object.freeze({ publish: [], subscribe: [], presence: false, history: false });

/**
 * The layers a token's rights are the intersection of: the org's default rules, the rules of the
 * integration it names (undefined: it names none; null: that integration is gone), its own scopes.
 */
export function tokenLayers(defaultRules: Rules | undefined, integrationRules: Rules | null | undefined, scopes: readonly RuleLayer[]): RuleLayer[] {
  const layers = [defaultRules ? layerOfRules(defaultRules) : DENY_ALL];
  if (integrationRules !== undefined) layers.push(integrationRules ? layerOfRules(integrationRules) : DENY_ALL);
  return [...layers, ...scopes];
}

/**
 * The first thing `requested` asks for that `upper` does not allow, described for a 403 body, or
 * null when `requested` stays within `upper`. Only what is asked for explicitly can exceed: a
 * `null` (inherited) list or capability never does.
 */
export function excessOver(requested: RuleLayer, upper: RuleLayer, upperName: string): string | null {
  for (const action of ['publish', 'subscribe'] as const) {
    const want = requested[action];
    const have = upper[action];
    if (want === null) continue;
    const denied = action === 'publish' ? upper.denyPublish : upper.denySubscribe;
    for (const f of want) {
      if (have !== null && !isFilterCoveredBySet(f, have)) return `${action} on '${f}' is not allowed by ${upperName}`;
      const d = denied?.find((x) => filtersOverlap(f, x));
      if (d !== undefined) return `${action} on '${f}' reaches '${d}', which ${upperName} denies`;
    }
  }
  for (const cap of ['presence', 'history'] as const) {
    if (requested[cap] === true && upper[cap] === false) return `'${cap}' permission is not allowed by ${upperName}`;
  }
  return null;
}

/**
 * Expands placeholders in every filter of the layer. An allow filter that cannot be expanded is
 * dropped (it grants nothing); a deny filter that cannot be expanded denies every value instead
 * (the level holding the placeholder becomes `+`): neither ever widens what the layer allows.
 */
export function expandLayer(layer: RuleLayer, values: PlaceholderValues, keepMissing = false): RuleLayer {
  const expand = (list: string[] | null) => {
    if (list === null) return null;
    // A list without placeholders is the same for every connection: shared, not copied (a copy per
    // connection was ~370 bytes). Layers are never modified.
    if (!list.some(hasPlaceholders)) return list;
    const out: string[] = [];
    for (const f of list) {
      const e = expandPlaceholders(f, values, keepMissing);
      if (e !== null && filterProblem(e) === null) out.push(e);
    }
    return out;
  };
  const expandDeny = (list: string[] | undefined) => list?.map((f) => expandDenyFilter(f, values, keepMissing));
  const expanded: RuleLayer = { publish: expand(layer.publish), subscribe: expand(layer.subscribe), presence: layer.presence, history: layer.history };
  if (layer.denyPublish?.length) expanded.denyPublish = expandDeny(layer.denyPublish)!;
  if (layer.denySubscribe?.length) expanded.denySubscribe = expandDeny(layer.denySubscribe)!;
  return expanded;
}

/** A deny filter for this user and client: expanded, or, without a usable value, each level holding a placeholder widened to `+`. */
export function expandDenyFilter(filter: string, values: PlaceholderValues, keepMissing = false): string {
  const e = expandPlaceholders(filter, values, keepMissing);
  return e !== null && filterProblem(e) === null ? e : filter.split('/').map((level) => (hasPlaceholders(level) ? '+' : level)).join('/');
}

const deniesTopic = (deny: readonly string[] | undefined, topic: string) => deny !== undefined && deny.length > 0 && topicAllowedBySet(topic, deny);
const deniesFilter = (deny: readonly string[] | undefined, filter: string) => deny !== undefined && deny.some((d) => filtersOverlap(filter, d));

/** Whether one layer allows publishing on `topic`: its allow list matches and no deny filter does. */
export const layerAllowsPublish = (l: RuleLayer, topic: string) =>
  (l.publish === null || topicAllowedBySet(topic, l.publish)) && !deniesTopic(l.denyPublish, topic);

/** Whether one layer grants `filter`: its allow list covers every topic and no deny filter reaches one. */
export const layerAllowsSubscribe = (l: RuleLayer, filter: string) =>
  (l.subscribe === null || isFilterCoveredBySet(filter, l.subscribe)) && !deniesFilter(l.denySubscribe, filter);

const PUBLISH_VERDICTS_KEPT = 64;

/** The decisions for one connection or one API caller, over already-expanded layers. */
export class EffectiveRights {
  /**
   * canPublish answers for recent topics (bounded; the layers never change, new rights are a new
   * object). A publisher mostly repeats a few topics; matching every filter of every layer per
   * PUBLISH was ~3% of the broker's CPU in a 1→1 stream.
   */
  private publishVerdicts: Map<string, boolean> | undefined;
  /** The same, for deliveries (canReceive): a subscriber mostly receives a few topics again and again. */
  private receiveVerdicts: Map<string, boolean> | undefined;

  constructor(readonly layers: readonly RuleLayer[]) {}

  get presence(): boolean {
    return this.layers.every((l) => l.presence !== false);
  }

  get history(): boolean {
    return this.layers.every((l) => l.history !== false);
  }

  /** Clients never publish into a reserved `$` space (reserved.ts); other `$` topics are the tenant's. */
  canPublish(topic: string): boolean {
    const known = this.publishVerdicts?.get(topic);
    if (known !== undefined) return known;
    const verdict = reservedRootOf(topic) === null && this.layers.every((l) => layerAllowsPublish(l, topic));
    const memo = (this.publishVerdicts ??= new Map());
    if (memo.size >= PUBLISH_VERDICTS_KEPT) memo.clear();
    memo.set(topic, verdict);
    return verdict;
  }

  /**
   * Granted only if every topic the filter can match is allowed by every layer. A shared
   * subscription `$share/<group>/<filter>` is authorised as its filter.
   */
  canSubscribe(filter: string): boolean {
    const shared = parseSharedFilter(filter);
    if (shared === null) return this.canSubscribeFilter(filter);
    return 'filter' in shared && this.canSubscribeFilter(shared.filter);
  }

  private canSubscribeFilter(filter: string): boolean {
    if (isPresenceFilter(filter)) return this.presence;
    if (reservedRootOf(filter) !== null) return false;
    return this.layers.every((l) => layerAllowsSubscribe(l, filter));
  }

  /**
   * May a message on the topic name `topic` be delivered to this connection? What it may subscribe
   * to, asked of the one topic: a subscription granted under earlier rights (restored with a
   * persistent session, or narrowed since by a rule or deny change) delivers nothing it may no
   * longer have, queued messages included.
   */
  canReceive(topic: string): boolean {
    const known = this.receiveVerdicts?.get(topic);
    if (known !== undefined) return known;
    const verdict = this.canSubscribeFilter(topic);
    const memo = (this.receiveVerdicts ??= new Map());
    if (memo.size >= PUBLISH_VERDICTS_KEPT) memo.clear();
    memo.set(topic, verdict);
    return verdict;
  }

  /** History of a topic is readable by a token with `history` that may subscribe to the topic. */
  canReadHistory(topic: string): boolean {
    return this.history && this.canSubscribeFilter(topic);
  }
}
