// Placeholders in rule filters: ${user_id}, ${user_email}, ${client_id}. A value may only fill one
// level; anything that could change the filter's structure makes the rule grant nothing.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  expandLayer, expandPlaceholders, filterProblem, hasPlaceholders, isFilterCovered, isSafePlaceholderValue,
  topicMatchesFilter, unknownPlaceholders, type PlaceholderValues,
} from '@signalgate/shared';

describe('expanding placeholders', () => {
  const values: PlaceholderValues = { user_id: 'u-1', user_email: 'ann@example.com', client_id: 'web-7' };

  test.each([
    ['users/${user_id}/#', 'users/u-1/#'],
    ['inbox/${user_email}', 'inbox/ann@example.com'],
    ['c/${client_id}/${user_id}', 'c/web-7/u-1'],
    ['pre-${user_id}-post/x', 'pre-u-1-post/x'],
    ['no/placeholders/+', 'no/placeholders/+'],
  ])('%s → %s', (filter, expected) => {
    expect(expandPlaceholders(filter, values)).toBe(expected);
  });

  test('a missing value makes the rule grant nothing', () => {
    expect(expandPlaceholders('users/${user_email}', { user_id: 'u' })).toBeNull();
  });

  test('keepMissing leaves known but unset placeholders as text (mint time: no client id yet)', () => {
    expect(expandPlaceholders('u/${user_id}/${client_id}', { user_id: 'u1' }, true)).toBe('u/u1/${client_id}');
  });

  test('keepMissing does not keep unknown placeholders', () => {
    expect(expandPlaceholders('u/${nope}', { user_id: 'u1' }, true)).toBeNull();
  });

  test.each([
    ['a/b', 'a user id with / would move the grant to another level'],
    ['+', 'a wildcard would widen the grant'],
    ['#', 'a wildcard would widen the grant'],
    ['x+y', 'a wildcard character inside a level'],
    ['a\u0000', 'NUL'],
    ['', 'an empty value would turn users/${user_id} into users/'],
    ['$SYS', 'a leading $ would reach a reserved space'],
    ['x${client_id}', 'a value that is itself a placeholder would be expanded again at connect time'],
  ])('an unsafe value %j grants nothing (%s)', (value) => {
    expect(isSafePlaceholderValue(value)).toBe(false);
    expect(expandPlaceholders('users/${user_id}/#', { user_id: value })).toBeNull();
  });

  test('unknown placeholder names are reported for rule validation', () => {
    expect(unknownPlaceholders('a/${user_id}/${tenant}/${x}')).toEqual(['tenant', 'x']);
    expect(unknownPlaceholders('a/${client_id}')).toEqual([]);
    expect(hasPlaceholders('a/${client_id}')).toBe(true);
    expect(hasPlaceholders('a/$client_id')).toBe(false);
  });

  test('expandLayer drops filters that cannot be expanded and keeps null lists null', () => {
    const layer = { publish: ['a/${user_id}', 'b/${user_email}', 'c'], subscribe: null, presence: true, history: null };
    expect(expandLayer(layer, { user_id: 'u1' })).toEqual({ publish: ['a/u1', 'c'], subscribe: null, presence: true, history: null });
  });

  // Seed-shaped attack: a user whose email holds "${client_id}" is minted a token scoped to
  // inbox/${user_email}/#. The token's scopes are expanded at mint (keeping ${client_id}) and again at
  // CONNECT; the second pass must not let the client id complete someone else's address.
  test('mint-time then connect-time expansion cannot splice a client id into a user value', () => {
    const email = 'vic${client_id}@example.com';
    const atMint = expandLayer({ publish: null, subscribe: ['inbox/${user_email}/#'], presence: null, history: null }, { user_id: 'u9', user_email: email }, true);
    const atConnect = expandLayer(atMint, { user_id: 'u9', user_email: email, client_id: 'tim' });
    expect(atConnect.subscribe ?? []).not.toContain('inbox/victim@example.com/#');
    for (const f of atConnect.subscribe ?? []) expect(topicMatchesFilter(f, 'inbox/victim@example.com/mail')).toBe(false);
  });
});

// ---- Property: expansion never widens ----------------------------------------------------------

const NAMES = ['user_id', 'user_email', 'client_id'] as const;
const placeholderLevelArb = fc
  .tuple(fc.constantFrom('', 'p-', 'x'), fc.constantFrom(...NAMES), fc.constantFrom('', '-s', '.x'))
  .map(([pre, name, post]) => `${pre}\${${name}}${post}`);
const plainLevelArb = fc.constantFrom('a', 'b', '', '+', 'users');
const templateArb = fc
  .tuple(fc.array(fc.oneof(placeholderLevelArb, plainLevelArb), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => [...levels, ...(hash ? ['#'] : [])].join('/'))
  .filter((f) => filterProblem(f) === null && !f.startsWith('$'));
// Values from a hostile alphabet: separators, wildcards, '$', NUL, braces and placeholder text.
const valueArb = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'b', '/', '+', '#', '$', '\u0000', '{', '}', '@', '.') , maxLength: 6 }),
  fc.constantFrom('${client_id}', 'x${user_id}', '${', 'ok', 'a@b.c'),
);
const valuesArb = fc.record({ user_id: valueArb, user_email: valueArb, client_id: valueArb }, { requiredKeys: [] });

/** The template with every level holding a placeholder replaced by '+': the widest it may become. */
const widest = (template: string) => template.split('/').map((l) => (hasPlaceholders(l) ? '+' : l)).join('/');

/** Topics an expanded filter matches: '+' filled with sample levels, '#' with nothing or more levels. */
function sampleTopics(filter: string): string[] {
  let topics: string[][] = [[]];
  for (const level of filter.split('/')) {
    if (level === '#') topics = topics.flatMap((t) => [t, [...t, 'z'], [...t, 'z', 'z']]).filter((t) => t.length > 0);
    else if (level === '+') topics = topics.flatMap((t) => [[...t, 'q'], [...t, '']]);
    else topics = topics.map((t) => [...t, level]);
  }
  return topics.map((t) => t.join('/')).filter((t) => t.length > 0);
}

describe('placeholder expansion never widens', () => {
  test('the expanded filter is null, or everything it matches is matched by the template with + in placeholder levels', () => {
    fc.assert(
      fc.property(templateArb, valuesArb, (template, values) => {
        const e = expandPlaceholders(template, values);
        if (e === null) return true;
        const outer = widest(template);
        if (filterProblem(e) !== null) return false;
        if (!isFilterCovered(e, outer)) return false;
        return sampleTopics(e).every((t) => topicMatchesFilter(outer, t));
      }),
      { numRuns: 5000 },
    );
  });

  test('expanding at mint (keeping ${client_id}) then at connect is the one-pass expansion or nothing', () => {
    fc.assert(
      fc.property(templateArb, valuesArb, (template, values) => {
        const { client_id, ...atMintValues } = values;
        const mint = expandPlaceholders(template, atMintValues, true);
        const twice = mint === null ? null : expandPlaceholders(mint, values);
        return twice === null || twice === expandPlaceholders(template, values);
      }),
      { numRuns: 5000 },
    );
  });
});
