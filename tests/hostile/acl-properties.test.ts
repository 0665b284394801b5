// Property-based checks of the ACL core that shared/test does not already make. shared/test covers
// isFilterCovered against enumeration, EffectiveRights over hand-built layers on {a, b, +}, and
// expandPlaceholders never widening. Here:
//  - the whole mint → store → CONNECT pipeline (org default ∩ integration ∩ token scopes, with
//    placeholders expanded at mint and again at connect) never grants more than any operand alone;
//  - intersection over a hostile alphabet ($ levels, empty levels, $presence) never grants more than
//    any operand, checked against enumeration rather than against EffectiveRights itself;
//  - topic matching agrees with an independent reference matcher; set coverage agrees with enumeration;
//  - organisation namespacing never lets one org's filter match another org's topic;
//  - placeholder expansion at the layer level never reaches a topic of another user or client.
// Fixed seeds keep every run identical.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  clientTopic, EffectiveRights, expandLayer, filterProblem, internalTopic, isFilterCovered, isFilterCoveredBySet,
  explainDecision, filtersOverlap, layersFromRequest, topicNameProblem, loadConfig, openServices, placeholderValuesOf, reservedRootOf, SignalGateError, topicAllowedBySet, topicMatchesFilter,
  type MintRequest, type Permission, type RuleLayer, type Rules, type Services,
} from '@signalgate/shared';

const SEED = 20240404;
const run = <T>(prop: fc.IProperty<T>, numRuns: number) => fc.assert(prop, { seed: SEED, numRuns });
const runAsync = <T>(prop: fc.IAsyncProperty<T>, numRuns: number): Promise<void> => fc.assert(prop, { seed: SEED, numRuns });

/** Every topic of 1..depth levels over `levels`. */
function topicsOver(levels: readonly string[], depth: number): string[] {
  const out: string[] = [];
  let layer: string[][] = [[]];
  for (let n = 1; n <= depth; n++) {
    layer = layer.flatMap((p) => levels.map((l) => [...p, l]));
    out.push(...layer.map((ls) => ls.join('/')));
  }
  return out;
}

const filterOf = (levels: readonly string[], hash: boolean) => [...levels, ...(hash ? ['#'] : [])].join('/');

/** Valid filters over `alphabet` (plus '+' and a trailing '#'), 1..maxLevels levels. */
const filterArbOver = (alphabet: readonly string[], maxLevels: number) =>
  fc
    .tuple(fc.array(fc.constantFrom(...alphabet, '+'), { minLength: 0, maxLength: maxLevels }), fc.boolean())
    .filter(([ls, h]) => ls.length + (h ? 1 : 0) >= 1 && ls.length + (h ? 1 : 0) <= maxLevels)
    .map(([ls, h]) => filterOf(ls, h));

// ---- The mint → CONNECT pipeline ----------------------------------------------------------------

describe('the rights a connection gets never exceed any operand of the intersection', () => {
  let services: Services;
  let orgId: string;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-hostile-acl-'));
    services = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'silent' }));
    orgId = (await services.orgs.create('Property Co')).org.id;
  });
  afterAll(async () => {
    await services.store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  // Levels the rules, requests and probes draw from: values the placeholders can take ('u1', 'c1',
  // 'e@x'), a '$' level, an empty level, and placeholder text (literal in a request).
  const WORLD_LEVELS = ['a', 'u1', 'c1', 'e@x', '$s', ''];
  const TOPICS = topicsOver(WORLD_LEVELS, 3);
  // Rule validation reserves a first level starting with '$', so placeholders start at level 2 (or
  // behind a prefix, as in 'p-${user_id}').
  const firstLevel = fc.constantFrom('a', 'u1', '', '+', 'p-${user_id}');
  const ruleLevel = fc.constantFrom('a', 'u1', '', '+', '${user_id}', '${client_id}', '${user_email}', 'p-${user_id}');
  const ruleFilter = fc
    .tuple(firstLevel, fc.array(ruleLevel, { minLength: 0, maxLength: 2 }), fc.boolean())
    .map(([first, ls, h]) => filterOf([first, ...ls], h))
    .filter((f) => filterProblem(f) === null);
  // Org rules lean permissive so that random requests often fit inside them (else most mints are 403).
  const orgListArb: fc.Arbitrary<string[]> = fc.oneof(fc.constant(['#']).map((l) => [...l]), fc.array(ruleFilter, { maxLength: 3 }).map((l) => [...l, '+/#']), fc.array(ruleFilter, { maxLength: 3 }));
  const rulesArb: fc.Arbitrary<Rules> = fc.record({
    publish: orgListArb,
    subscribe: orgListArb,
    presence: fc.boolean(),
    history: fc.boolean(),
  });
  const listArb = fc.option(fc.array(ruleFilter, { maxLength: 3 }), { nil: undefined });
  const requestArb = fc.record(
    {
      permissions: fc.option(fc.subarray<Permission>(['publish', 'subscribe', 'presence', 'history']), { nil: undefined }),
      topics: listArb,
      acl: fc.option(fc.record({ publish: listArb, subscribe: listArb }, { requiredKeys: [] }), { nil: undefined }),
    },
    { requiredKeys: [] },
  );
  // user_id values are validated at mint; emails may hold '/', '+' or '${' and then fill no placeholder.
  const userArb = fc.oneof(
    fc.constantFrom('u1', 'u2', 'a').map((userId) => ({ userId })),
    fc.constantFrom('e@x', 'a/b@x', '+@x', 'v${client_id}@x').map((userEmail) => ({ userEmail })),
  );
  // Client ids are whatever a client sends in CONNECT.
  const clientIdArb = fc.constantFrom('c1', 'u1', 'a', '+', '#', 'x/y', '$s', '${user_id}', '');
  const probeFilter = fc.oneof(filterArbOver(WORLD_LEVELS, 3), fc.constantFrom('$presence/#', '$presence/+', '$SYS/#'));

  let counter = 0;
  let connected = 0;

  test('publish, subscribe, presence and history of a minted token, read back at CONNECT', async () => {
    await runAsync(
      fc.asyncProperty(rulesArb, fc.option(rulesArb, { nil: null }), requestArb, userArb, clientIdArb, fc.array(probeFilter, { minLength: 8, maxLength: 8 }),
        async (orgRules, integrationRules, request, user, clientId, probes) => {
          const n = ++counter;
          let integrationId: string | undefined;
          let issued;
          try {
            // Rule sets the rule validation refuses (e.g. a first level starting with '$') stop here.
            await services.rules.setDefault(orgId, orgRules);
            if (integrationRules) {
              await services.rules.create(orgId, `rs-${n}`, integrationRules);
              integrationId = `int-${n}`;
              await services.integrations.create(orgId, integrationId, `rs-${n}`);
            }
            const req: MintRequest = { orgId, ...user, ...request, ...(integrationId ? { integrationId } : {}) };
            issued = await services.tokens.mint(req);
          } catch (err) {
            // Only a refusal the API maps to 400/403 is acceptable, never another failure.
            if (err instanceof SignalGateError && (err.status === 400 || err.status === 403)) return true;
            throw err;
          }
          const verdict = await services.connect.checkConnect(issued.username, issued.password);
          if (!verdict.ok) throw new Error(`a fresh token was refused: ${verdict.reason}`);
          connected++;
          const values = placeholderValuesOf(verdict.user, clientId);
          const granted = new EffectiveRights((await services.connect.layersOf(verdict.token)).map((l) => expandLayer(l, values)));

          // The operands, each alone, expanded once with the full values.
          const operands: RuleLayer[] = [orgRules, ...(integrationRules ? [integrationRules] : []), ...layersFromRequest(request)].map((l) => expandLayer(l, values));
          const alone = operands.map((l) => new EffectiveRights([l]));

          for (const t of TOPICS) {
            if (granted.canPublish(t) && !operands.every((l) => l.publish === null || topicAllowedBySet(t, l.publish))) {
              throw new Error(`publish on ${JSON.stringify(t)} granted beyond an operand`);
            }
          }
          for (const f of probes) {
            if (!granted.canSubscribe(f)) continue;
            if (!alone.every((r) => r.canSubscribe(f))) throw new Error(`subscribe ${JSON.stringify(f)} granted beyond an operand`);
            // Brute force: every topic the filter matches is matched by a filter of each operand.
            const matched = TOPICS.filter((t) => topicMatchesFilter(f, t));
            if (!f.startsWith('$presence') && !operands.every((l) => l.subscribe === null || matched.every((t) => topicAllowedBySet(t, l.subscribe!)))) {
              throw new Error(`subscribe ${JSON.stringify(f)} reaches a topic an operand does not allow`);
            }
          }
          if (granted.presence && !operands.every((l) => l.presence !== false)) throw new Error('presence beyond an operand');
          if (granted.history && !operands.every((l) => l.history !== false)) throw new Error('history beyond an operand');
          return true;
        }),
      400,
    );
    // The property must have exercised real tokens, not only refusals.
    expect(connected).toBeGreaterThan(100);
  });
});

// ---- Intersection over a hostile alphabet, against enumeration ------------------------------------

describe('intersection over $ levels, empty levels and $presence', () => {
  // `$s` stands for a tenant's `$` space ($notifications…), `$SYS` for a reserved one.
  const LEVELS = ['a', '', '$s', '$SYS'];
  const TOPICS = topicsOver(LEVELS, 3);
  const filterArb = filterArbOver(LEVELS, 3);
  const listArb = fc.option(fc.array(fc.oneof(filterArb, fc.constantFrom('$presence/#', '#')), { maxLength: 3 }), { nil: null });
  const flagArb = fc.option(fc.boolean(), { nil: null });
  const layerArb: fc.Arbitrary<RuleLayer> = fc.record({ publish: listArb, subscribe: listArb, presence: flagArb, history: flagArb });
  const probeArb = fc.oneof(filterArb, fc.constantFrom('$presence', '$presence/#', '$presence/u1', '$SYS/#', '#', '+/#'));

  test('a granted subscription matches only topics every layer allows; a reserved $ space is reachable only as $presence with the permission', () => {
    run(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 4 }), probeArb, (layers, filter) => {
        const all = new EffectiveRights(layers);
        if (!all.canSubscribe(filter)) return true;
        if (filter.startsWith('$presence')) return layers.every((l) => l.presence !== false);
        const matched = TOPICS.filter((t) => topicMatchesFilter(filter, t));
        return (
          reservedRootOf(filter) === null &&
          matched.every((t) => reservedRootOf(t) === null) &&
          layers.every((l) => l.subscribe === null || matched.every((t) => topicAllowedBySet(t, l.subscribe!)))
        );
      }),
      3000,
    );
  });

  test('history of a topic is readable only when every layer allows history and subscribing to it', () => {
    run(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 4 }), fc.constantFrom(...TOPICS), (layers, topic) => {
        const all = new EffectiveRights(layers);
        if (!all.canReadHistory(topic)) return true;
        return layers.every((l) => l.history !== false && (l.subscribe === null || topicAllowedBySet(topic, l.subscribe)));
      }),
      3000,
    );
  });

  test('publishing is allowed exactly when every layer allows it, and never into a reserved $ space', () => {
    run(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 4 }), (layers) => {
        const all = new EffectiveRights(layers);
        return TOPICS.every((t) => all.canPublish(t) === (reservedRootOf(t) === null && layers.every((l) => l.publish === null || topicAllowedBySet(t, l.publish))));
      }),
      2000,
    );
  });
});

describe('deny rules inside a layer', () => {
  const LEVELS = ['a', 'b', '', '$s'];
  const TOPICS = topicsOver(LEVELS, 3);
  // Valid filters only: the broker refuses an invalid one (an empty filter) before rights are asked.
  const filterArb = filterArbOver(LEVELS, 3).filter((f) => filterProblem(f) === null);
  const listArb = fc.option(fc.array(fc.oneof(filterArb, fc.constant('#')), { maxLength: 3 }), { nil: null });
  const denyArb = fc.option(fc.array(filterArb, { minLength: 1, maxLength: 2 }), { nil: undefined });
  const layerArb: fc.Arbitrary<RuleLayer> = fc
    .record({ publish: listArb, subscribe: listArb, denyPublish: denyArb, denySubscribe: denyArb })
    .map(({ denyPublish, denySubscribe, ...rest }) => ({
      ...rest, presence: null, history: null,
      ...(denyPublish ? { denyPublish } : {}), ...(denySubscribe ? { denySubscribe } : {}),
    }));

  test('a publish is allowed exactly when every layer allows the topic and denies it nowhere', () => {
    run(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 3 }), (layers) => {
        const all = new EffectiveRights(layers);
        return TOPICS.every((t) => all.canPublish(t) === layers.every((l) =>
          (l.publish === null || topicAllowedBySet(t, l.publish)) && !(l.denyPublish ?? []).some((d) => topicMatchesFilter(d, t))));
      }),
      2000,
    );
  });

  test('a granted subscription can receive no topic any layer denies, and only topics every layer allows', () => {
    run(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 3 }), filterArb, (layers, filter) => {
        const all = new EffectiveRights(layers);
        if (!all.canSubscribe(filter)) return true;
        const matched = TOPICS.filter((t) => topicMatchesFilter(filter, t));
        return layers.every((l) => matched.every((t) =>
          (l.subscribe === null || topicAllowedBySet(t, l.subscribe)) && !(l.denySubscribe ?? []).some((d) => topicMatchesFilter(d, t))));
      }),
      3000,
    );
  });

  test('filtersOverlap says yes exactly when some topic (of the sample) matches both, allowing for deeper topics', () => {
    const DEEP = topicsOver(LEVELS, 4);
    run(
      fc.property(filterArb, filterArb, (a, b) => {
        const witness = DEEP.some((t) => topicMatchesFilter(a, t) && topicMatchesFilter(b, t));
        // Sound: a witness in the sample implies overlap; and over 4 levels every overlap of two
        // filters of at most 3 levels has a witness (the '#' tail needs one level more).
        return filtersOverlap(a, b) === witness;
      }),
      3000,
    );
  });

  test('the explanation agrees with the rights on every verdict', () => {
    run(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 3 }), fc.constantFrom(...TOPICS.filter((t) => topicNameProblem(t) === null)), filterArb, (layers, topic, filter) => {
        const all = new EffectiveRights(layers);
        const named = layers.map((layer, i) => ({ name: `layer ${i}`, layer }));
        return explainDecision('publish', topic, named, {}).allowed === all.canPublish(topic)
          && explainDecision('subscribe', filter, named, {}).allowed === all.canSubscribe(filter);
      }),
      2000,
    );
  });
});

// ---- Matching and coverage against independent references -----------------------------------------

/** An independent matcher (MQTT 3.1.1 §4.7) built as a regular expression, to check topicMatchesFilter. */
function referenceMatch(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const levels = filter.split('/');
  let re = '';
  levels.forEach((l, i) => {
    if (l === '#') re = i === 0 ? '.*' : `${re}(?:/.*)?`;
    else re += (i === 0 ? '' : '/') + (l === '+' ? '[^/]*' : esc(l));
  });
  return new RegExp(`^${re}$`, 's').test(topic);
}

describe('topic matching and set coverage agree with references', () => {
  // Levels a fuzzer would pick: empty, '$' ones, regex metacharacters, unicode, and lookalikes.
  const HOSTILE = ['a', '', '$s', '.', '*', 'é', 'a.b', '(x)', '\\', ' '];
  const topicArb = fc.array(fc.constantFrom(...HOSTILE), { minLength: 1, maxLength: 5 }).map((ls) => ls.join('/'));
  const filterArb = filterArbOver(HOSTILE, 5);

  test('topicMatchesFilter agrees with a regular-expression reference', () => {
    run(fc.property(filterArb, topicArb, (f, t) => topicMatchesFilter(f, t) === referenceMatch(f, t)), 20000);
  });

  const LEVELS = ['a', 'b', '$s'];
  const TOPICS = topicsOver(LEVELS, 4);
  const small = filterArbOver(LEVELS, 3);

  test('isFilterCoveredBySet is exactly "some member covers it", and sound against enumeration', () => {
    run(
      fc.property(small, fc.array(small, { maxLength: 4 }), (f, set) => {
        const said = isFilterCoveredBySet(f, set);
        const matched = TOPICS.filter((t) => topicMatchesFilter(f, t));
        const someMemberCovers = set.some((o) => matched.every((t) => topicMatchesFilter(o, t)));
        const unionCovers = matched.every((t) => set.some((o) => topicMatchesFilter(o, t)));
        // Exact against enumeration of single members; the union may cover more (chat/# is not
        // granted by chat/room1 + chat/room2 + …): a granted filter is always within the union.
        return said === someMemberCovers && (!said || unionCovers) && said === set.some((o) => isFilterCovered(f, o));
      }),
      5000,
    );
  });
});

// ---- Tenant namespacing -----------------------------------------------------------------------------

describe('organisation namespacing', () => {
  const A = 'org_aaaaaaaaaaaa';
  const B = 'org_aaaaaaaaaaab';
  const LEVELS = ['a', '', '$s', '$presence', A, B, 'org_aaaaaaaaaaaa'];
  // Topic names are never empty (MQTT 3.1.1 §4.7.3).
  const topicArb = fc.array(fc.constantFrom(...LEVELS), { minLength: 1, maxLength: 4 }).map((ls) => ls.join('/')).filter((t) => t !== '');
  const filterArb = filterArbOver(LEVELS, 4);

  test("one org's filter never matches another org's topic; within an org matching is unchanged", () => {
    run(
      fc.property(filterArb, topicArb, (f, t) => {
        if (topicMatchesFilter(internalTopic(A, f), internalTopic(B, t))) return false;
        return topicMatchesFilter(internalTopic(A, f), internalTopic(A, t)) === topicMatchesFilter(f, t);
      }),
      10000,
    );
  });

  test('a topic comes back unchanged to its own org and to no other', () => {
    run(
      fc.property(topicArb, (t) => clientTopic(A, internalTopic(A, t)) === t && clientTopic(B, internalTopic(A, t)) === null),
      5000,
    );
  });
});

// ---- Placeholders at the layer level ------------------------------------------------------------------

describe('placeholder expansion never reaches another user or client', () => {
  // Hostile values: separators, wildcards, '$', NUL, placeholder text, and look-alikes of other users.
  const valueArb = fc.oneof(
    fc.string({ unit: fc.constantFrom('u', '1', '/', '+', '#', '$', '\u0000', '{', '}', '@'), maxLength: 5 }),
    fc.constantFrom('u1', 'u2', 'u1/x', 'u1/#', '+', '#', '${client_id}', '${user_id}', ''),
  );
  const templates = ['users/${user_id}/#', 'inbox/${user_email}', 'c/${client_id}/+', 'p-${user_id}/${client_id}', 'dm/${user_id}/${client_id}/#'];
  const TOPICS = [
    'users/u1/x', 'users/u2/x', 'users/u1', 'users/+/x', 'inbox/u1', 'inbox/u2', 'c/u1/x', 'c/u2/x', 'p-u1/u1', 'p-u2/u2', 'p-u1/u2',
    'dm/u1/u1/x', 'dm/u2/u2', 'dm/u1/u2/a/b', 'users//x', 'inbox/', 'c//x',
  ];

  test('every topic a rule expanded for (user, client) allows carries exactly those values in the placeholder levels', () => {
    run(
      fc.property(fc.constantFrom(...templates), valueArb, valueArb, valueArb, (template, userId, email, clientId) => {
        const values = { user_id: userId, user_email: email, client_id: clientId };
        const layer = expandLayer({ publish: [template], subscribe: [template], presence: null, history: null }, values);
        const rights = new EffectiveRights([layer]);
        const tl = template.split('/');
        return TOPICS.every((topic) => {
          if (!rights.canPublish(topic)) return true;
          const levels = topic.split('/');
          return tl.every((l, i) => {
            if (l === '#' || l === '+') return true;
            const expected = l.replace('${user_id}', () => userId).replace('${user_email}', () => email).replace('${client_id}', () => clientId);
            return levels[i] === expected;
          });
        });
      }),
      10000,
    );
  });
});
