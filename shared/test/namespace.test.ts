import { describe, expect, test } from '@jest/globals';
import { clientTopic, DROPPED_TOPIC, internalTopic, splitInternalTopic, topicMatchesFilter } from '@signalgate/shared';

const A = 'org_aaaaaaaaaaaa';
const B = 'org_bbbbbbbbbbbb';

describe('topic namespacing per organisation', () => {
  test('plain topics and filters get the org as first level and come back unchanged', () => {
    for (const t of ['chat/general', 'a', '/leading', 'trailing/', 'x/+/y', '#', 'org_bbbbbbbbbbbb/x']) {
      const i = internalTopic(A, t);
      expect(i).toBe(`${A}/${t}`);
      expect(clientTopic(A, i)).toBe(t);
      expect(splitInternalTopic(i)).toEqual({ orgId: A, topic: t });
    }
  });

  test('$ topics move under a $ root of the org, so a client # never matches them', () => {
    expect(internalTopic(A, '$presence/u1')).toBe(`$${A}/presence/u1`);
    expect(clientTopic(A, `$${A}/presence/u1`)).toBe('$presence/u1');
    expect(splitInternalTopic(`$${A}/presence/u1`)).toEqual({ orgId: A, topic: '$presence/u1' });
    expect(topicMatchesFilter(internalTopic(A, '#'), internalTopic(A, '$presence/u1'))).toBe(false);
    expect(topicMatchesFilter(internalTopic(A, '+/u1'), internalTopic(A, '$presence/u1'))).toBe(false);
    expect(topicMatchesFilter(internalTopic(A, '$presence/#'), internalTopic(A, '$presence/u1'))).toBe(true);
  });

  test('another org’s topics, broker topics and the drop topic are outside the namespace', () => {
    expect(clientTopic(A, internalTopic(B, 'chat/general'))).toBeNull();
    expect(clientTopic(A, internalTopic(B, '$presence/u'))).toBeNull();
    expect(clientTopic(A, `${A}`)).toBeNull();
    expect(clientTopic(A, `${A}x/y`)).toBeNull();
    expect(clientTopic(A, '$SYS/broker/uptime')).toBeNull();
    expect(clientTopic(A, DROPPED_TOPIC)).toBeNull();
    expect(splitInternalTopic('$SYS/abc/new/clients')).toBeNull();
    expect(splitInternalTopic(DROPPED_TOPIC)).toBeNull();
    expect(splitInternalTopic(`${A}/`)).toBeNull();
  });

  test('a filter of one org never matches a topic of another', () => {
    for (const f of ['#', '+/#', 'chat/#', '+']) {
      expect(topicMatchesFilter(internalTopic(A, f), internalTopic(B, 'chat/general'))).toBe(false);
    }
  });
});
