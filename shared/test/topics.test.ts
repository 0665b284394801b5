// Topic names, filters, matching and filter containment (MQTT 3.1.1 §4.7 plus the SPEC rule that a
// subscription is granted only when every topic it can match is allowed).
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { filterProblem, isFilterCovered, isFilterCoveredBySet, topicAllowedBySet, topicMatchesFilter, topicNameProblem } from '@signalgate/shared';

describe('topic names accepted for PUBLISH', () => {
  test.each([
    ['a'],
    ['chat/room1'],
    ['/'],
    ['a//b'],
    ['/leading'],
    ['trailing/'],
    ['$SYS/broker'],
    ['ünïcødé/тема'],
    ['x'.repeat(65535)],
  ])('%s is a valid topic name', (topic) => {
    expect(topicNameProblem(topic)).toBeNull();
  });

  test.each([
    ['', /empty/],
    ['a\u0000b', /NUL/],
    ['a/+', /wildcard/],
    ['a/#', /wildcard/],
    ['a+', /wildcard/],
    ['#', /wildcard/],
    ['+', /wildcard/],
    ['x'.repeat(65536), /65535/],
    // 32768 two-byte characters are 65536 bytes: the limit is in UTF-8 bytes, not characters
    ['é'.repeat(32768), /65535/],
  ])('%j is rejected with a reason', (topic, reason) => {
    expect(topicNameProblem(topic)).toMatch(reason);
  });

  test('a non-string is rejected, not thrown on', () => {
    expect(topicNameProblem(undefined as unknown as string)).toMatch(/empty/);
  });
});

describe('subscription filters', () => {
  test.each([['#'], ['+'], ['a/#'], ['a/+/b'], ['+/+'], ['a//b'], ['/'], ['/#'], ['+/'], ['$SYS/#'], ['x'.repeat(65535)]])(
    '%s is a valid filter',
    (filter) => {
      expect(filterProblem(filter)).toBeNull();
    },
  );

  test.each([
    ['', /empty/],
    ['a\u0000', /NUL/],
    ['a/#/b', /'#'/],
    ['#/a', /'#'/],
    ['a#', /'#'/],
    ['a/b#', /'#'/],
    ['a+', /'\+'/],
    ['a/+b', /'\+'/],
    ['++', /'\+'/],
    ['x'.repeat(65536), /65535/],
  ])('%j is rejected with a reason', (filter, reason) => {
    expect(filterProblem(filter)).toMatch(reason);
  });
});

describe('topic matching', () => {
  test.each([
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['a/#', 'a', true], // '#' also matches the parent level
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/', true], // '+' matches an empty level
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['+/+', '/', true],
    ['+', '', true],
    ['a//b', 'a//b', true],
    ['a/+/b', 'a//b', true],
    ['a/b', 'a/b/', false],
    ['/a', 'a', false],
    ['a', 'A', false],
  ])('%s matches %j: %s', (filter, topic, expected) => {
    expect(topicMatchesFilter(filter, topic)).toBe(expected);
  });

  describe('the $ rule (§4.7.2): a filter starting with a wildcard never matches a $ topic', () => {
    test.each([
      ['#', '$SYS/x', false],
      ['+/x', '$SYS/x', false],
      ['+', '$SYS', false],
      ['+/#', '$SYS/x', false],
      ['$SYS/#', '$SYS/x', true],
      ['$SYS/#', '$SYS', true],
      ['$SYS/+', '$SYS/x', true],
      ['$presence/+', '$presence/u1', true],
      ['a/#', 'a/$x', true], // only the first level is special
      ['a/+', 'a/$x', true],
    ])('%s matches %j: %s', (filter, topic, expected) => {
      expect(topicMatchesFilter(filter, topic)).toBe(expected);
    });
  });

  test('a topic is allowed by a set when one filter matches it', () => {
    expect(topicAllowedBySet('chat/room1', ['news/#', 'chat/+'])).toBe(true);
    expect(topicAllowedBySet('chat/room1/x', ['news/#', 'chat/+'])).toBe(false);
    expect(topicAllowedBySet('anything', [])).toBe(false);
  });
});

describe('filter containment: inner ⊆ outer', () => {
  test.each([
    ['chat/+/x', 'chat/#', true],
    ['chat/room1', 'chat/#', true],
    ['chat', 'chat/#', true],
    ['chat/#', 'chat/#', true],
    ['chat/#', 'chat/room1', false],
    ['chat/#', 'chat/+', false],
    ['chat/+', 'chat/room1', false], // '+' is wider than a literal
    ['+', 'a', false],
    ['#', '#', true],
    ['a', 'a/#', true],
    ['a/#', 'a/+/#', false], // 'a/#' matches 'a', which 'a/+/#' does not
    ['a/+/#', 'a/#', true],
    ['a/+', 'a/+', true],
    ['a/b', 'a/+', true],
    ['a/b/c', 'a/+', false],
    ['a', 'a/+', false],
    ['a/+', '+/+', true],
    ['+/+', 'a/+', false],
    ['a', 'a', true],
    ['a', 'b', false],
    ['a/b', 'a', false],
    ['a', 'a/b', false],
    ['a//b', 'a/+/b', true],
    ['a/+/b', 'a//b', false],
    ['#', 'a/#', false],
    ['#', '+', false],
    ['#', '+/#', true], // every topic has a first level; both skip $ topics
    ['#', '+/+/#', false],
    ['+/#', '+/+/#', false],
    ['+', '#', true],
    ['$x', '#', false],
    ['$x/y', '+/y', false],
    ['$x/#', '#', false],
    ['$x', '+', false],
    ['$x/y', '$x/#', true],
    ['$x/y', '$x/+', true],
    ['a/$x', 'a/+', true],
    ['a/$x', 'a/#', true],
  ])('%s ⊆ %s: %s', (inner, outer, expected) => {
    expect(isFilterCovered(inner, outer)).toBe(expected);
  });

  test('a set covers a filter only if one member covers it whole', () => {
    expect(isFilterCoveredBySet('chat/room1', ['news/#', 'chat/+'])).toBe(true);
    expect(isFilterCoveredBySet('chat/#', ['chat/room1', 'chat/room2'])).toBe(false);
    expect(isFilterCoveredBySet('a', [])).toBe(false);
  });
});

// ---- Property-based: coverage agrees with brute-force enumeration over a small world ----------

/** Every topic of 1..4 levels over `levels`. */
function topicsOver(levels: readonly string[]): string[] {
  const out: string[] = [];
  let layer: string[][] = [[]];
  for (let n = 1; n <= 4; n++) {
    layer = layer.flatMap((prefix) => levels.map((l) => [...prefix, l]));
    out.push(...layer.map((ls) => ls.join('/')));
  }
  return out;
}

/** Every valid filter of 1..3 levels over `levels`, '+' and a trailing '#'. */
function filtersOver(levels: readonly string[]): string[] {
  const all = new Set<string>();
  const build = (prefix: string[]) => {
    if (prefix.length >= 1) all.add(prefix.join('/'));
    if (prefix.length < 3) all.add([...prefix, '#'].join('/'));
    if (prefix.length === 3) return;
    for (const l of [...levels, '+']) build([...prefix, l]);
  };
  build([]);
  return [...all];
}

const ALL_TOPICS = topicsOver(['a', 'b', '$s']);

/** Valid filters of up to 3 levels over {a, b, $s}, '+' and a trailing '#'. */
const filterArb = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', '$s', '+'), { minLength: 0, maxLength: 3 }), fc.boolean())
  .filter(([levels, hash]) => levels.length + (hash ? 1 : 0) >= 1 && levels.length + (hash ? 1 : 0) <= 3)
  .map(([levels, hash]) => [...levels, ...(hash ? ['#'] : [])].join('/'));

const matchedIn = (topics: readonly string[], filter: string) => topics.filter((t) => topicMatchesFilter(filter, t));
const coveredIn = (topics: readonly string[], inner: string, outer: string) =>
  matchedIn(topics, inner).every((t) => topicMatchesFilter(outer, t));
const coveredByEnumeration = (inner: string, outer: string) => coveredIn(ALL_TOPICS, inner, outer);

describe('containment agrees with enumeration', () => {
  test('the generated filters are valid and topics reach 4 levels', () => {
    fc.assert(fc.property(filterArb, (f) => filterProblem(f) === null));
    expect(ALL_TOPICS).toHaveLength(3 + 9 + 27 + 81);
  });

  test('SOUND: if isFilterCovered(i, o) then every topic i matches is matched by o', () => {
    fc.assert(
      fc.property(filterArb, filterArb, (inner, outer) => {
        if (!isFilterCovered(inner, outer)) return true;
        return coveredByEnumeration(inner, outer);
      }),
      { numRuns: 5000 },
    );
  });

  test('EXACT: with filters of ≤ 3 levels, the function agrees with enumeration both ways', () => {
    fc.assert(
      fc.property(filterArb, filterArb, (inner, outer) => isFilterCovered(inner, outer) === coveredByEnumeration(inner, outer)),
      { numRuns: 5000 },
    );
  });

  // Filters of ≤ 3 levels over topics of ≤ 4 levels: any counterexample has at most 4 levels, and a
  // literal never covers '+' because each world has two non-$ values. So enumeration is the truth.
  test.each([
    ['{a, b, $s}', ['a', 'b', '$s']],
    ['{a, empty level, $s}', ['a', '', '$s']],
  ])('EXACT over every pair of filters of the world %s (exhaustive)', (_name, levels) => {
    const topics = topicsOver(levels);
    const disagreements: string[] = [];
    for (const i of filtersOver(levels)) for (const o of filtersOver(levels)) {
      const said = isFilterCovered(i, o);
      if (said !== coveredIn(topics, i, o)) disagreements.push(`${JSON.stringify(i)} ⊆ ${JSON.stringify(o)}: said ${said}`);
    }
    expect(disagreements).toEqual([]);
  });

  test('coverage is reflexive and transitive', () => {
    fc.assert(fc.property(filterArb, (f) => isFilterCovered(f, f)));
    fc.assert(
      fc.property(filterArb, filterArb, filterArb, (x, y, z) => !(isFilterCovered(x, y) && isFilterCovered(y, z)) || isFilterCovered(x, z)),
      { numRuns: 3000 },
    );
  });
});
