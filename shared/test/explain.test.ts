// The "test a topic" explanation: the verdict is always the one EffectiveRights gives, and it names
// the layer that refused or the filter that allowed, with placeholders expanded as at CONNECT.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { EffectiveRights, expandLayer, explainDecision, filterProblem, type NamedLayer, type RuleLayer } from '@signalgate/shared';

const layer = (l: Partial<RuleLayer>): RuleLayer => ({ publish: null, subscribe: null, presence: null, history: null, ...l });
const named = (name: string, l: Partial<RuleLayer>): NamedLayer => ({ name, layer: layer(l) });

const orgDefault = named('default', { publish: ['chat/#', 'users/${user_id}/out'], subscribe: ['chat/#', 'users/${user_id}/#'], presence: true, history: false });
const integration = named("integration 'web'", { publish: ['chat/room1'], subscribe: ['chat/room1', 'chat/+/typing'], presence: false });
const values = { user_id: 'alice', client_id: 'c1' };

describe('publish', () => {
  test('allowed: names the innermost restricting layer and the filter that allowed', () => {
    const e = explainDecision('publish', 'chat/room1', [orgDefault, integration], values);
    expect(e.allowed).toBe(true);
    expect(e.decided_by).toMatchObject({ layer: "integration 'web'", filter: 'chat/room1' });
    expect(e.layers.map((l) => [l.layer, l.allowed, l.filter])).toEqual([
      ['default', true, 'chat/#'],
      ["integration 'web'", true, 'chat/room1'],
    ]);
  });

  test('denied: names the first layer that has no matching filter', () => {
    const e = explainDecision('publish', 'chat/room2', [orgDefault, integration], values);
    expect(e.allowed).toBe(false);
    expect(e.decided_by.layer).toBe("integration 'web'");
    expect(e.decided_by.reason).toContain("none of the 1 publish filter(s) of integration 'web' matches 'chat/room2'");
    const outside = explainDecision('publish', 'admin/x', [orgDefault, integration], values);
    expect(outside.decided_by.layer).toBe('default');
  });

  test('placeholders are expanded for the user; the written filter and its expansion are both reported', () => {
    const e = explainDecision('publish', 'users/alice/out', [orgDefault], values);
    expect(e.allowed).toBe(true);
    expect(e.decided_by).toMatchObject({ layer: 'default', filter: 'users/${user_id}/out' });
    expect(e.layers[0]!.expanded).toBe('users/alice/out');
    expect(explainDecision('publish', 'users/bob/out', [orgDefault], values).allowed).toBe(false);
  });

  test('a placeholder without a usable value grants nothing, and the deny says so', () => {
    const e = explainDecision('publish', 'users/a/b', [named('default', { publish: ['users/${user_id}/b'] })], { user_id: 'a/b' });
    expect(e.allowed).toBe(false);
    expect(e.decided_by.reason).toContain("'users/${user_id}/b' grant(s) nothing");
  });

  test('invalid topic names and reserved $ spaces are refused before any layer; a tenant $ topic is decided by the rules', () => {
    expect(explainDecision('publish', 'chat/#', [orgDefault], values)).toMatchObject({ allowed: false, decided_by: { layer: null } });
    expect(explainDecision('publish', '$SYS/x', [named('all', { publish: ['#'] })], values).decided_by.reason).toContain('$SYS (reserved)');
    expect(explainDecision('publish', '$notifications/u/inbox', [named('all', { publish: ['#'] })], values)).toMatchObject({ allowed: false });
    expect(explainDecision('publish', '$notifications/u/inbox', [named('all', { publish: ['#', '$notifications/#'] })], values)).toMatchObject({
      allowed: true, decided_by: { filter: '$notifications/#' },
    });
  });

  test('a layer that does not restrict the action allows it and says so', () => {
    const e = explainDecision('publish', 'x', [named('token scope', { publish: null })], values);
    expect(e.allowed).toBe(true);
    expect(e.layers[0]!.unrestricted).toBe(true);
  });
});

describe('subscribe', () => {
  test('a filter is allowed only if a filter of every layer covers it; partial overlap is explained', () => {
    expect(explainDecision('subscribe', 'chat/+/typing', [orgDefault, integration], values)).toMatchObject({
      allowed: true, decided_by: { layer: "integration 'web'", filter: 'chat/+/typing' },
    });
    const e = explainDecision('subscribe', 'chat/#', [orgDefault, integration], values);
    expect(e.allowed).toBe(false);
    expect(e.decided_by.layer).toBe("integration 'web'");
    expect(e.decided_by.reason).toContain("covers only part of what 'chat/#' can match");
  });

  test('$presence is decided by the presence permission of every layer', () => {
    expect(explainDecision('subscribe', '$presence/#', [orgDefault], values)).toMatchObject({ allowed: true });
    const e = explainDecision('subscribe', '$presence/#', [orgDefault, integration], values);
    expect(e).toMatchObject({ allowed: false, decided_by: { layer: "integration 'web'" } });
    expect(e.decided_by.reason).toContain('presence permission');
  });

  test('invalid filters and other $ topics are refused', () => {
    expect(explainDecision('subscribe', 'a/#/b', [orgDefault], values)).toMatchObject({ allowed: false, decided_by: { layer: null } });
    expect(explainDecision('subscribe', '$SYS/#', [named('all', { subscribe: ['#'] })], values).allowed).toBe(false);
  });
});

describe('the explanation never disagrees with EffectiveRights', () => {
  const level = fc.constantFrom('a', 'b', '+', '${user_id}', '${client_id}', '$p');
  const filterArb = fc
    .tuple(fc.array(level, { minLength: 1, maxLength: 3 }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
    .filter((f) => filterProblem(f) === null);
  const listArb = fc.option(fc.array(filterArb, { maxLength: 3 }), { nil: null });
  const layerArb = fc.record({ publish: listArb, subscribe: listArb, presence: fc.option(fc.boolean(), { nil: null }), history: fc.constant(null) });
  const valuesArb = fc.record({ user_id: fc.constantFrom('a', 'u/1', 'b'), client_id: fc.constantFrom('a', 'c', '+') });
  const topicArb = fc.array(fc.constantFrom('a', 'b', 'u', '$p', '$presence'), { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
  const subArb = fc.oneof(filterArb, topicArb, fc.constant('$presence/#'));

  test('publish', () => {
    fc.assert(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 3 }), valuesArb, topicArb, (layers, v, topic) => {
        const rights = new EffectiveRights(layers.map((l) => expandLayer(l, v)));
        const e = explainDecision('publish', topic, layers.map((l, i) => ({ name: `L${i}`, layer: l })), v);
        expect(e.allowed).toBe(rights.canPublish(topic));
      }),
      { numRuns: 2000 },
    );
  });

  test('subscribe', () => {
    fc.assert(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 3 }), valuesArb, subArb, (layers, v, filter) => {
        const rights = new EffectiveRights(layers.map((l) => expandLayer(l, v)));
        const e = explainDecision('subscribe', filter, layers.map((l, i) => ({ name: `L${i}`, layer: l })), v);
        expect(e.allowed).toBe(rights.canSubscribe(filter));
      }),
      { numRuns: 2000 },
    );
  });
});
