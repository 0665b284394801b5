// Which filters a rule set (or a token's scope) may hold.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, openServices, ruleFilterProblem } from '@signalgate/shared';

describe('ruleFilterProblem', () => {
  // `$` spaces other than $SYS, $presence and $share are the tenant's (CloudSignal's packages use them).
  test.each(['chat/#', 'users/${user_id}/#', '${user_id}/#', '${client_id}', '+/${user_email}/inbox', '$notifications/${user_id}/inbox/#', '$spaces/#', '$sys/x'])('accepts %s', (f) => {
    expect(ruleFilterProblem(f)).toBeNull();
  });

  test.each([
    ['$SYS/#', /reserved/],
    ['$SYS', /reserved/],
    ['$share/group/chat/#', /reserved/],
    ['$presence/#', /presence permission/],
    ['${nope}/#', /unknown placeholder \$\{nope\}/],
    ['a/#/b', /'#'/],
    ['', /empty/],
  ])('refuses %s', (f, why) => {
    expect(ruleFilterProblem(f)).toMatch(why);
  });
});

describe('a rule whose first level is a placeholder', () => {
  test('grants the user their own subtree and nothing of another user or of $ topics', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-rulefilter-'));
    const s = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: dir }));
    const { org } = await s.orgs.create('Root placeholders');
    await s.rules.setDefault(org.id, { publish: ['${user_id}/#'], subscribe: ['${user_id}/#'], presence: false, history: false });
    const t = await s.tokens.mint({ orgId: org.id, userId: 'alice' });
    const user = (await s.store.users.byRef(org.id, t.userRef))!;
    const rights = await s.connect.rightsOf((await s.store.tokens.get(t.tokenId))!, user, 'c1');
    expect(rights.canPublish('alice/notes')).toBe(true);
    expect(rights.canSubscribe('alice/#')).toBe(true);
    expect(rights.canPublish('bob/notes')).toBe(false);
    expect(rights.canSubscribe('#')).toBe(false);
    expect(rights.canSubscribe('$SYS/#')).toBe(false);
    await s.store.close();
  });
});
