// The rights model: request shapes → token layers, the 403 check against upper layers, and the
// intersection every publish and subscribe is decided by.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { EffectiveRights, excessOver, layerOfRules, layersFromRequest, parseSharedFilter, RightsCache, topicMatchesFilter, type RuleLayer } from '@signalgate/shared';

const layer = (l: Partial<RuleLayer>): RuleLayer => ({ publish: null, subscribe: null, presence: null, history: null, ...l });

describe('layers from the documented request shapes', () => {
  test('seed 001: permissions + topics form one layer applying the topics to the named actions', () => {
    expect(layersFromRequest({ permissions: ['publish', 'subscribe'], topics: ['chat/#', 'notifications/user-123'] })).toEqual([
      { publish: ['chat/#', 'notifications/user-123'], subscribe: ['chat/#', 'notifications/user-123'], presence: false, history: false },
    ]);
  });

  test('an action left out of permissions gets no topics; presence/history follow the list', () => {
    expect(layersFromRequest({ permissions: ['subscribe', 'presence'], topics: ['a/#'] })).toEqual([
      { publish: [], subscribe: ['a/#'], presence: true, history: false },
    ]);
  });

  test('topics without permissions restrict both actions and leave the capabilities inherited', () => {
    expect(layersFromRequest({ topics: ['a'] })).toEqual([{ publish: ['a'], subscribe: ['a'], presence: null, history: null }]);
  });

  test('permissions without topics keep the granted actions inherited from the upper layers', () => {
    expect(layersFromRequest({ permissions: ['publish', 'history'] })).toEqual([
      { publish: null, subscribe: [], presence: false, history: true },
    ]);
  });

  test('seed 000/003: acl with both actions scopes each separately', () => {
    expect(layersFromRequest({ acl: { publish: ['users/u1/messages'], subscribe: ['users/u1/#'] } })).toEqual([
      { publish: ['users/u1/messages'], subscribe: ['users/u1/#'], presence: null, history: null },
    ]);
  });

  test('acl with only one action grants nothing for the other', () => {
    expect(layersFromRequest({ acl: { subscribe: ['x/#'] } })).toEqual([{ publish: [], subscribe: ['x/#'], presence: null, history: null }]);
    expect(layersFromRequest({ acl: { publish: ['x'] } })).toEqual([{ publish: ['x'], subscribe: [], presence: null, history: null }]);
  });

  test('a request with no scopes adds no layer (inherits the org and integration rules)', () => {
    expect(layersFromRequest({})).toEqual([]);
  });

  test('permissions/topics and acl together add two layers (both must allow)', () => {
    const layers = layersFromRequest({ permissions: ['publish', 'subscribe'], topics: ['a/#'], acl: { publish: ['a/b'] } });
    expect(layers).toHaveLength(2);
    const rights = new EffectiveRights(layers);
    expect(rights.canPublish('a/b')).toBe(true);
    expect(rights.canPublish('a/c')).toBe(false);
    expect(rights.canSubscribe('a/#')).toBe(false); // the acl layer granted no subscribe
  });

  test('a stored rule set is a layer as is', () => {
    expect(layerOfRules({ publish: ['a'], subscribe: [], presence: true, history: false })).toEqual({
      publish: ['a'], subscribe: [], presence: true, history: false,
    });
  });
});

describe('a request asking for more than an upper layer allows (403 message)', () => {
  const org = layer({ publish: ['chat/#'], subscribe: ['chat/room1', 'news/+'], presence: false, history: true });

  test('a publish filter outside the upper filters names the action, the filter and the layer', () => {
    expect(excessOver(layer({ publish: ['alerts/x'] }), org, 'the org')).toBe("publish on 'alerts/x' is not allowed by the org");
  });

  test('a wider subscription than the granted one is excess (chat/# is not granted by chat/room1)', () => {
    expect(excessOver(layer({ subscribe: ['chat/#'] }), org, 'X')).toBe("subscribe on 'chat/#' is not allowed by X");
  });

  test('a narrower request is within', () => {
    expect(excessOver(layer({ publish: ['chat/a/b'], subscribe: ['news/today', 'chat/room1'] }), org, 'X')).toBeNull();
  });

  test('asking for a capability the upper layer denies is excess; not asking is fine', () => {
    expect(excessOver(layer({ presence: true }), org, 'X')).toBe("'presence' permission is not allowed by X");
    expect(excessOver(layer({ presence: false, history: true }), org, 'X')).toBeNull();
  });

  test('inherited (null) lists never exceed, and an unrestricted upper layer allows anything', () => {
    expect(excessOver(layer({}), org, 'X')).toBeNull();
    expect(excessOver(layer({ publish: ['#'], presence: true }), layer({}), 'X')).toBeNull();
  });

  test('an empty upper list makes any requested filter excess', () => {
    expect(excessOver(layer({ subscribe: ['a'] }), layer({ subscribe: [] }), 'X')).toMatch(/subscribe on 'a'/);
  });
});

describe('effective rights: the intersection of layers', () => {
  const orgDefault = layer({ publish: ['chat/#'], subscribe: ['chat/#'], presence: true, history: true });
  const token = layer({ publish: ['chat/room1'], subscribe: ['chat/+'], presence: null, history: false });
  const rights = new EffectiveRights([orgDefault, token]);

  test('publish needs every layer', () => {
    expect(rights.canPublish('chat/room1')).toBe(true);
    expect(rights.canPublish('chat/room2')).toBe(false);
    expect(rights.canPublish('news')).toBe(false);
  });

  test('subscribe needs the whole filter covered by every layer', () => {
    expect(rights.canSubscribe('chat/room2')).toBe(true);
    expect(rights.canSubscribe('chat/+')).toBe(true);
    expect(rights.canSubscribe('chat/#')).toBe(false);
    expect(rights.canSubscribe('#')).toBe(false);
  });

  test('presence and history are on only when no layer says false', () => {
    expect(rights.presence).toBe(true);
    expect(rights.history).toBe(false);
    expect(new EffectiveRights([orgDefault, layer({})]).history).toBe(true);
    expect(new EffectiveRights([layer({ presence: false }), layer({ presence: true })]).presence).toBe(false);
  });

  test('history of a topic needs the history flag and the right to subscribe to it', () => {
    const r = new EffectiveRights([orgDefault, layer({ subscribe: ['chat/room1'] })]);
    expect(r.canReadHistory('chat/room1')).toBe(true);
    expect(r.canReadHistory('chat/room2')).toBe(false);
    expect(new EffectiveRights([layer({ history: false })]).canReadHistory('chat/room1')).toBe(false);
  });

  test('null lists do not restrict, empty lists deny', () => {
    const r = new EffectiveRights([layer({ publish: null, subscribe: [] })]);
    expect(r.canPublish('any/topic')).toBe(true);
    expect(r.canSubscribe('any/topic')).toBe(false);
  });

  describe('$ topics', () => {
    const open = new EffectiveRights([layer({ publish: ['#'], subscribe: ['#'], presence: true })]);
    const noPresence = new EffectiveRights([layer({ publish: ['#'], subscribe: ['#'], presence: false })]);

    test('nobody publishes into a $ space ($SYS, $presence)', () => {
      expect(open.canPublish('$SYS/x')).toBe(false);
      expect(open.canPublish('$presence/u1')).toBe(false);
      expect(open.canPublish('$anything')).toBe(false);
    });

    test('$presence subscriptions follow the presence permission, not the filter lists', () => {
      expect(open.canSubscribe('$presence/#')).toBe(true);
      expect(open.canSubscribe('$presence')).toBe(true);
      expect(open.canSubscribe('$presence/+')).toBe(true);
      expect(noPresence.canSubscribe('$presence/#')).toBe(false);
      expect(new EffectiveRights([layer({ subscribe: [], presence: true })]).canSubscribe('$presence/#')).toBe(true);
    });

    test('other $ spaces are never open, even to a layer granting #', () => {
      expect(open.canSubscribe('$SYS/#')).toBe(false);
      expect(open.canSubscribe('$presenceX/#')).toBe(false);
      expect(open.canSubscribe('$share/g/$SYS/#')).toBe(false);
      expect(open.canSubscribe('$share/g/$anything/#')).toBe(false);
    });

    test('a shared subscription is authorised as the filter it shares; a malformed or nested one never', () => {
      expect(open.canSubscribe('$share/g/#')).toBe(true);
      expect(open.canSubscribe('$share/g/$presence/#')).toBe(true);
      expect(noPresence.canSubscribe('$share/g/$presence/#')).toBe(false);
      expect(parseSharedFilter('$share/workers/jobs/+/x')).toEqual({ group: 'workers', filter: 'jobs/+/x' });
      expect(parseSharedFilter('$share/g/$spaces/#')).toEqual({ group: 'g', filter: '$spaces/#' });
      expect(parseSharedFilter('$shared/g/x')).toBeNull();
      const narrow = new EffectiveRights([layer({ subscribe: ['jobs/#'] })]);
      expect(['$share/g/jobs/#', '$share/g/jobs/+/x', '$share/g/#', '$share/g/chat/x'].map((f) => narrow.canSubscribe(f))).toEqual([true, true, false, false]);
      for (const f of ['$share/g', '$share//x', '$share/g+/x', '$share/g#/x', '$share/g/', '$share/g/a/#/b', '$share/g/$share/h/x', '$share']) {
        expect([f, open.canSubscribe(f)]).toEqual([f, false]);
      }
    });
  });
});

// ---- Property: the intersection never allows more than any single layer ------------------------

const levels = ['a', 'b', '$s'];
const TOPICS = (() => {
  const out: string[] = [];
  let layer1: string[][] = [[]];
  for (let n = 1; n <= 3; n++) {
    layer1 = layer1.flatMap((p) => levels.map((l) => [...p, l]));
    out.push(...layer1.map((x) => x.join('/')));
  }
  return out;
})();
const filterArb = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', '+'), { minLength: 0, maxLength: 2 }), fc.boolean())
  .filter(([ls, h]) => ls.length + (h ? 1 : 0) >= 1)
  .map(([ls, h]) => [...ls, ...(h ? ['#'] : [])].join('/'));
const listArb = fc.option(fc.array(filterArb, { maxLength: 3 }), { nil: null });
const layerArb = fc.record({ publish: listArb, subscribe: listArb, presence: fc.option(fc.boolean(), { nil: null }), history: fc.option(fc.boolean(), { nil: null }) });

describe('intersection never allows more than any single layer', () => {
  test('publish: allowed by the intersection ⇔ allowed by every layer', () => {
    fc.assert(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 4 }), (layers) => {
        const all = new EffectiveRights(layers);
        return TOPICS.every((t) => all.canPublish(t) === layers.every((l) => new EffectiveRights([l]).canPublish(t)));
      }),
      { numRuns: 2000 },
    );
  });

  test('subscribe: a granted filter is granted by each layer alone, and every topic it matches is publishable-visible in each layer', () => {
    fc.assert(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 4 }), filterArb, (layers, filter) => {
        const all = new EffectiveRights(layers);
        if (!all.canSubscribe(filter)) return true;
        return layers.every((l) => {
          const alone = new EffectiveRights([l]);
          if (!alone.canSubscribe(filter)) return false;
          // Every topic the filter matches is matched by some subscribe filter of the layer.
          return l.subscribe === null || TOPICS.filter((t) => topicMatchesFilter(filter, t)).every((t) => l.subscribe!.some((f) => topicMatchesFilter(f, t)));
        });
      }),
      { numRuns: 2000 },
    );
  });

  test('publish answers remembered per rights object agree with fresh ones, also once the memo fills and is cleared', () => {
    const many = [...TOPICS, ...Array.from({ length: 100 }, (_, i) => `a/x${i}`), ...TOPICS, '$SYS/a', '$SYS/a', ...TOPICS];
    fc.assert(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 3 }), (layers) => {
        const reused = new EffectiveRights(layers);
        return many.every((t) => reused.canPublish(t) === new EffectiveRights(layers).canPublish(t));
      }),
      { numRuns: 300 },
    );
  });

  test('presence and history: on for the intersection only if on for each layer', () => {
    fc.assert(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 4 }), (layers) => {
        const all = new EffectiveRights(layers);
        const each = layers.map((l) => new EffectiveRights([l]));
        return all.presence === each.every((r) => r.presence) && all.history === each.every((r) => r.history);
      }),
    );
  });

  test('adding a layer never adds a right', () => {
    fc.assert(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 3 }), layerArb, filterArb, (layers, extra, filter) => {
        const before = new EffectiveRights(layers);
        const after = new EffectiveRights([...layers, extra]);
        return (
          (!after.canSubscribe(filter) || before.canSubscribe(filter)) &&
          TOPICS.every((t) => !after.canPublish(t) || before.canPublish(t)) &&
          (!after.presence || before.presence) && (!after.history || before.history)
        );
      }),
      { numRuns: 2000 },
    );
  });
});

describe('RightsCache: one EffectiveRights for every connection whose layers read no placeholder', () => {
  const values = { user_id: 'alice', client_id: 'c1' };
  test('equal layers without placeholders share one object; a rule change makes a new one', () => {
    const cache = new RightsCache();
    const a = cache.rightsOf([layer({ publish: ['chat/#'], subscribe: ['chat/#'] })], values);
    const b = cache.rightsOf([layer({ publish: ['chat/#'], subscribe: ['chat/#'] })], { user_id: 'bob' });
    expect(b).toBe(a);
    const c = cache.rightsOf([layer({ publish: ['chat/#'], subscribe: ['news/#'] })], values);
    expect(c).not.toBe(a);
    expect(c.canSubscribe('news/x')).toBe(true);
    expect(a.canSubscribe('news/x')).toBe(false);
  });

  test('layers with a placeholder (allow or deny) are expanded per connection, never shared', () => {
    const cache = new RightsCache();
    for (const l of [layer({ subscribe: ['users/${user_id}/#'] }), layer({ subscribe: ['#'], denySubscribe: ['users/${user_id}/private'] })]) {
      const alice = cache.rightsOf([l], { user_id: 'alice' });
      const bob = cache.rightsOf([l], { user_id: 'bob' });
      expect(alice).not.toBe(bob);
      expect(alice.canSubscribe('users/alice/#')).toBe(bob.canSubscribe('users/bob/#'));
      expect(alice.canReceive('users/bob/private')).toBe(bob.canReceive('users/alice/private'));
    }
    expect(cache.size).toBe(0);
  });

  test('bounded: past maxEntries the oldest entry goes', () => {
    const cache = new RightsCache(3);
    const first = cache.rightsOf([layer({ publish: ['t0'] })], values);
    for (let i = 1; i <= 3; i++) cache.rightsOf([layer({ publish: [`t${i}`] })], values);
    expect(cache.size).toBe(3);
    expect(cache.rightsOf([layer({ publish: ['t0'] })], values)).not.toBe(first);
  });
});
