// The behaviour every Store implementation owes its callers (issue 17: one repository interface,
// two implementations, the same behaviour). Each store's test file calls storeContract with a way
// to open it; the tests below speak only the Store interface, so SQLite and PostgreSQL answer the
// same questions. SQLite is the reference: where the two differ, the difference is a finding.
//
// One store per contract run, shared by its tests, as the database of a real deployment is shared:
// every test makes its own organisation and ids, and works in its own span of epoch milliseconds
// (span(), above every earlier test's), so the few global operations (purges, trims, the change
// feed's position) can be asserted exactly. Times are above 2^41: every one also checks that
// 64-bit millisecond values come back as the same numbers.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Store, StoreTx } from '../src/store/types.js';
import type { Rules, RuleLayer } from '../src/acl/rights.js';
import type { IdentityProvider } from '../src/store/identityProviders.js';
import type { TokenRecord } from '../src/store/tokens.js';
import type { SessionRecord } from '../src/store/sessions.js';
import type { UsageSample } from '../src/store/usage.js';
import type { PurgeCutoffs } from '../src/store/retention.js';
import type { OrgLimits } from '../src/orgLimits.js';
import { PASSWORDS_KEPT_PER_TOKEN } from '../src/store/tokens.js';
import { LAST_USED_RESOLUTION_MS } from '../src/store/apiKeys.js';
import { USAGE_RETENTION_MS } from '../src/store/usage.js';
import { ORG_LIMITS } from '../src/orgLimits.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Width of one test's time span; a test keeps every time it writes inside its own. */
const SPAN = 10_000_000_000;
let lastSpan = 2 ** 41;
/** The start of a span of epoch milliseconds no earlier test wrote in. */
const span = () => (lastSpan += SPAN);

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const alnum = (n: number) => Array.from(randomBytes(n), (b) => ALNUM[b % ALNUM.length]).join('');
const newOrgId = () => `org_${alnum(12)}`;
const newHash = () => randomBytes(32).toString('hex');
const unique = (prefix: string) => `${prefix}-${alnum(10)}`;

/** Rules with every field set, so a round trip can lose none unnoticed. */
const rules = (over: Partial<Rules> = {}): Rules => ({
  publish: ['chat/#'], subscribe: ['chat/+/in', 'presence/#'], presence: true, history: false, denyPublish: ['chat/admin'], denySubscribe: [], ...over,
});

const newOrg = async (s: StoreTx, t: number, name = 'Org') => {
  const org = { id: newOrgId(), uuid: randomUUID(), name };
  await s.orgs.insert(org.id, org.uuid, name, t);
  return org;
};

type NewToken = Omit<TokenRecord, 'refreshedAt' | 'lastUsedAt' | 'revokedAt' | 'revokeReason'>;
const newToken = (orgId: string, userRef: string, t: number, over: Partial<NewToken> = {}): NewToken => ({
  id: randomUUID(), orgId, userRef, passwordHash: newHash(), integrationId: null, provider: null, scopes: [], apiKeyId: null,
  issuedAt: t, expiresAt: t + HOUR, ...over,
});
const insertToken = async (s: StoreTx, orgId: string, userRef: string, t: number, over: Partial<NewToken> = {}) => {
  const tok = newToken(orgId, userRef, t, over);
  await s.tokens.insert(tok);
  return tok;
};

const newSession = (orgId: string, t: number, over: Partial<SessionRecord> = {}): SessionRecord => ({
  brokerId: unique('broker'), orgId, clientId: unique('client'), userRef: unique('u'), tokenId: randomUUID(), address: '198.51.100.7:51234',
  protocol: 'mqtt/3.1.1', connectedAt: t, expiresAt: t + HOUR, ...over,
});

const newProvider = (orgId: string, t: number, over: Partial<IdentityProvider> = {}): IdentityProvider => ({
  orgId, name: unique('idp'), type: 'oidc', issuer: `https://${alnum(8)}.example.com/`, jwksUrl: 'https://idp.example.com/.well-known/jwks.json',
  secret: null, audience: 'signalgate', userIdClaim: 'sub', emailClaim: 'email', createdAt: t, ...over,
});

/** Every cutoff at `t`: clears what earlier tests left before this test's span (the newest change row stays). */
const cutoffsAt = (t: number): PurgeCutoffs => ({ tokensEndedBefore: t, usersCreatedBefore: t, auditBefore: t, changesBefore: t, historyBefore: t });

const defaultLimits = (): OrgLimits => Object.fromEntries(ORG_LIMITS.map((l) => [l.key, l.default])) as unknown as OrgLimits;

/**
 * Whether `p` rejects. Not `.rejects.toThrow()`: a driver's error made in another jest realm (a
 * native module loaded by an earlier suite of the same worker) is no Error of this one, and
 * toThrow then reports "did not throw" (seen in full runs only).
 */
const refused = (p: Promise<unknown>): Promise<boolean> => p.then(() => false, () => true);

/** A promise and the function that settles it: holds a transaction body open at a chosen point. */
function deferred() {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

/** Lets pending I/O and timers run (a PostgreSQL round trip, SQLite's batch flush). */
const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

/**
 * Declares the contract's tests for the store `open` makes. `open` is called once, before the
 * first test; the store is closed after the last.
 */
export function storeContract(name: string, open: () => Promise<Store>): void {
  let store: Store | undefined;
  const s = (): Store => {
    if (!store) throw new Error(`the ${name} store did not open`);
    return store;
  };
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store?.close();
  });

  describe(`${name} store: organisations`, () => {
    test('an inserted organisation comes back by its id with the default TTLs and limits', async () => {
      const t = span();
      const org = await newOrg(s(), t, 'Acme "Ünïcode" ☃');
      expect(await s().orgs.get(org.id)).toEqual({
        id: org.id, uuid: org.uuid, name: 'Acme "Ünïcode" ☃', createdAt: t,
        defaultTtlSeconds: 3600, minTtlSeconds: 60, maxTtlSeconds: 86_400, maxTokenLifetimeSeconds: 604_800, limits: defaultLimits(),
      });
      expect(await s().orgs.get(newOrgId())).toBeUndefined();
    });

    test('byRef finds an organisation by its short id or its UUID in any case, and nothing else', async () => {
      const org = await newOrg(s(), span());
      expect((await s().orgs.byRef(org.id))?.id).toBe(org.id);
      expect((await s().orgs.byRef(org.uuid))?.id).toBe(org.id);
      expect((await s().orgs.byRef(org.uuid.toUpperCase()))?.id).toBe(org.id);
      expect(await s().orgs.byRef(randomUUID())).toBeUndefined();
      expect(await s().orgs.byRef(newOrgId())).toBeUndefined();
      expect(await s().orgs.byRef('not-an-id')).toBeUndefined();
    });

    test('list holds every organisation, oldest first, ties by id', async () => {
      const t = span();
      const ids = [newOrgId(), newOrgId(), newOrgId()].sort();
      await s().orgs.insert(ids[2]!, randomUUID(), 'late', t + 2);
      await s().orgs.insert(ids[1]!, randomUUID(), 'tie b', t + 1);
      await s().orgs.insert(ids[0]!, randomUUID(), 'tie a', t + 1);
      const listed = (await s().orgs.list()).filter((o) => ids.includes(o.id));
      expect(listed.map((o) => [o.name, o.createdAt])).toEqual([['tie a', t + 1], ['tie b', t + 1], ['late', t + 2]]);
    });

    test('update writes every setting and every limit, nulls included, and only of that organisation', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const before = (await s().orgs.get(org.id))!;
      // Above 2^31 too: byte quotas of several GiB are ordinary.
      const limits = Object.fromEntries(ORG_LIMITS.map((l, i) => [l.key, i % 3 === 0 ? null : 5_000_000_000 + i])) as unknown as OrgLimits;
      const updated = { ...before, name: 'Renamed', defaultTtlSeconds: 7200, minTtlSeconds: 30, maxTtlSeconds: 172_800, maxTokenLifetimeSeconds: 86_400 * 30, limits };
      await s().orgs.update(updated);
      expect(await s().orgs.get(org.id)).toEqual(updated);
      expect(await s().orgs.get(other.id)).toEqual({ ...before, id: other.id, uuid: other.uuid });
      await s().orgs.update({ ...updated, limits: defaultLimits() });
      expect((await s().orgs.get(org.id))?.limits).toEqual(defaultLimits());
    });

    test('delete answers whether it removed one, and takes the organisation\'s rule sets, integrations, keys, users, tokens and providers with it', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const kept = await newOrg(s(), t);
      const fill = async (orgId: string) => {
        await s().ruleSets.insert({ id: randomUUID(), orgId, name: 'default', isDefault: true, ...rules() }, t);
        const rs = (await s().ruleSets.getDefault(orgId))!;
        await s().integrations.insert({ orgId, id: 'int', ruleSetId: rs.id, description: null }, t);
        const keyId = randomUUID();
        await s().apiKeys.insert({ id: keyId, orgId, prefix: `sk_${alnum(8)}`, hash: newHash(), name: null, createdAt: t, expiresAt: null });
        await s().users.insert({ orgId, userRef: 'uref', userId: 'user', userEmail: null, createdAt: t });
        const tok = await insertToken(s(), orgId, 'uref', t);
        const idp = newProvider(orgId, t);
        await s().providers.insert(idp);
        return { keyId, tok, idp, ruleSetId: rs.id };
      };
      const gone = await fill(org.id);
      const stays = await fill(kept.id);

      expect(await s().orgs.delete(org.id)).toBe(true);
      expect(await s().orgs.get(org.id)).toBeUndefined();
      expect(await s().orgs.delete(org.id)).toBe(false);
      expect(await s().ruleSets.list(org.id)).toEqual([]);
      expect(await s().integrations.list(org.id)).toEqual([]);
      expect(await s().apiKeys.get(gone.keyId)).toBeUndefined();
      expect(await s().users.byRef(org.id, 'uref')).toBeUndefined();
      expect(await s().tokens.get(gone.tok.id)).toBeUndefined();
      expect(await s().tokens.byPasswordHash(gone.tok.passwordHash)).toBeUndefined();
      expect(await s().providers.list(org.id)).toEqual([]);

      expect(await s().ruleSets.get(kept.id, stays.ruleSetId)).toBeDefined();
      expect(await s().integrations.get(kept.id, 'int')).toBeDefined();
      expect(await s().apiKeys.get(stays.keyId)).toBeDefined();
      expect(await s().users.byRef(kept.id, 'uref')).toBeDefined();
      expect((await s().tokens.byPasswordHash(stays.tok.passwordHash))?.id).toBe(stays.tok.id);
      expect(await s().providers.get(kept.id, stays.idp.name)).toBeDefined();
    });

    test('a second organisation with the same id or the same UUID is refused, and the first stays as it was', async () => {
      const t = span();
      const org = await newOrg(s(), t, 'First');
      expect(await refused(s().orgs.insert(org.id, randomUUID(), 'Same id', t))).toBe(true);
      expect(await refused(s().orgs.insert(newOrgId(), org.uuid, 'Same uuid', t))).toBe(true);
      expect((await s().orgs.get(org.id))?.name).toBe('First');
      expect((await s().orgs.byRef(org.uuid))?.id).toBe(org.id);
    });
  });

  describe(`${name} store: rule sets`, () => {
    test('an inserted rule set comes back whole: lists, flags, deny lists, times', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const id = randomUUID();
      const r = rules({ publish: ['a/#', 'b/${user_id}/+'], presence: false, history: true, denySubscribe: ['a/secret'] });
      await s().ruleSets.insert({ id, orgId: org.id, name: 'readers', isDefault: false, ...r }, t + 5);
      expect(await s().ruleSets.get(org.id, id)).toEqual({ id, orgId: org.id, name: 'readers', isDefault: false, ...r, createdAt: t + 5, updatedAt: t + 5 });
    });

    test('deny lists left out are stored as empty', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const id = randomUUID();
      await s().ruleSets.insert({ id, orgId: org.id, name: 'plain', isDefault: true, publish: ['#'], subscribe: [], presence: true, history: true }, t);
      expect(await s().ruleSets.get(org.id, id)).toMatchObject({ publish: ['#'], subscribe: [], denyPublish: [], denySubscribe: [] });
    });

    test('get, getByName and getDefault find a set only within its organisation', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      expect(await s().ruleSets.getDefault(org.id)).toBeUndefined();
      const def = randomUUID();
      const named = randomUUID();
      await s().ruleSets.insert({ id: def, orgId: org.id, name: 'default', isDefault: true, ...rules() }, t);
      await s().ruleSets.insert({ id: named, orgId: org.id, name: 'writers', isDefault: false, ...rules() }, t);
      expect((await s().ruleSets.getDefault(org.id))?.id).toBe(def);
      expect((await s().ruleSets.getByName(org.id, 'writers'))?.id).toBe(named);
      expect(await s().ruleSets.getByName(org.id, 'Writers')).toBeUndefined();
      expect((await s().ruleSets.get(org.id, named))?.name).toBe('writers');
      expect(await s().ruleSets.get(other.id, named)).toBeUndefined();
      expect(await s().ruleSets.getByName(other.id, 'writers')).toBeUndefined();
      expect(await s().ruleSets.getDefault(other.id)).toBeUndefined();
    });

    test('list gives the default first, then the others by name, and only the organisation\'s', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      for (const [name, isDefault] of [['zeta', false], ['mid', false], ['zz-default', true], ['alpha', false]] as const) {
        await s().ruleSets.insert({ id: randomUUID(), orgId: org.id, name, isDefault, ...rules() }, t);
      }
      await s().ruleSets.insert({ id: randomUUID(), orgId: other.id, name: 'elsewhere', isDefault: false, ...rules() }, t);
      expect((await s().ruleSets.list(org.id)).map((r) => r.name)).toEqual(['zz-default', 'alpha', 'mid', 'zeta']);
    });

    test('updateRules replaces the rules and the update time, keeps the rest, and says whether a set was there', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const id = randomUUID();
      await s().ruleSets.insert({ id, orgId: org.id, name: 'default', isDefault: true, ...rules() }, t);
      const next = rules({ publish: [], subscribe: ['x/#'], presence: false, history: true, denyPublish: [], denySubscribe: ['x/y'] });
      expect(await s().ruleSets.updateRules(org.id, id, next, t + 9)).toBe(true);
      expect(await s().ruleSets.get(org.id, id)).toEqual({ id, orgId: org.id, name: 'default', isDefault: true, ...next, createdAt: t, updatedAt: t + 9 });
      expect(await s().ruleSets.updateRules(other.id, id, rules(), t + 10)).toBe(false);
      expect(await s().ruleSets.updateRules(org.id, randomUUID(), rules(), t + 10)).toBe(false);
      expect((await s().ruleSets.get(org.id, id))?.updatedAt).toBe(t + 9);
    });

    test('delete removes a non-default set only: never the default, nor one an integration uses', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const def = randomUUID();
      const spare = randomUUID();
      const used = randomUUID();
      await s().ruleSets.insert({ id: def, orgId: org.id, name: 'default', isDefault: true, ...rules() }, t);
      await s().ruleSets.insert({ id: spare, orgId: org.id, name: 'spare', isDefault: false, ...rules() }, t);
      await s().ruleSets.insert({ id: used, orgId: org.id, name: 'used', isDefault: false, ...rules() }, t);
      await s().integrations.insert({ orgId: org.id, id: 'bridge', ruleSetId: used, description: null }, t);

      expect(await s().ruleSets.delete(org.id, def)).toBe(false);
      expect(await s().ruleSets.get(org.id, def)).toBeDefined();
      expect(await s().ruleSets.delete(org.id, spare)).toBe(true);
      expect(await s().ruleSets.get(org.id, spare)).toBeUndefined();
      expect(await s().ruleSets.delete(org.id, spare)).toBe(false);
      expect(await refused(s().ruleSets.delete(org.id, used))).toBe(true);
      expect(await s().ruleSets.get(org.id, used)).toBeDefined();
    });

    test('a second set of the same name, or a second default, in one organisation is refused; another organisation may', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      await s().ruleSets.insert({ id: randomUUID(), orgId: org.id, name: 'default', isDefault: true, ...rules() }, t);
      expect(await refused(s().ruleSets.insert({ id: randomUUID(), orgId: org.id, name: 'default', isDefault: false, ...rules() }, t))).toBe(true);
      expect(await refused(s().ruleSets.insert({ id: randomUUID(), orgId: org.id, name: 'second', isDefault: true, ...rules() }, t))).toBe(true);
      await s().ruleSets.insert({ id: randomUUID(), orgId: other.id, name: 'default', isDefault: true, ...rules() }, t);
      expect((await s().ruleSets.list(org.id)).map((r) => r.name)).toEqual(['default']);
      expect((await s().ruleSets.list(other.id)).map((r) => r.name)).toEqual(['default']);
    });

    test('a rule set of an organisation that does not exist is refused', async () => {
      expect(await refused(s().ruleSets.insert({ id: randomUUID(), orgId: newOrgId(), name: 'orphan', isDefault: false, ...rules() }, span()))).toBe(true);
    });
  });

  describe(`${name} store: integrations`, () => {
    const withRuleSet = async (t: number) => {
      const org = await newOrg(s(), t);
      const ruleSetId = randomUUID();
      await s().ruleSets.insert({ id: ruleSetId, orgId: org.id, name: 'bridge', isDefault: false, ...rules() }, t);
      return { org, ruleSetId };
    };

    test('an inserted integration comes back with its description (or null) and time, within its organisation only', async () => {
      const t = span();
      const { org, ruleSetId } = await withRuleSet(t);
      const other = await newOrg(s(), t);
      await s().integrations.insert({ orgId: org.id, id: 'crm', ruleSetId, description: 'CRM → chat' }, t + 1);
      await s().integrations.insert({ orgId: org.id, id: 'bare', ruleSetId, description: null }, t + 2);
      expect(await s().integrations.get(org.id, 'crm')).toEqual({ orgId: org.id, id: 'crm', ruleSetId, description: 'CRM → chat', createdAt: t + 1 });
      expect(await s().integrations.get(org.id, 'bare')).toEqual({ orgId: org.id, id: 'bare', ruleSetId, description: null, createdAt: t + 2 });
      expect(await s().integrations.get(other.id, 'crm')).toBeUndefined();
      expect(await s().integrations.get(org.id, 'nope')).toBeUndefined();
    });

    test('list gives the organisation\'s integrations by id', async () => {
      const t = span();
      const { org, ruleSetId } = await withRuleSet(t);
      const other = await withRuleSet(t);
      for (const id of ['mm', 'zz', 'aa']) await s().integrations.insert({ orgId: org.id, id, ruleSetId, description: null }, t);
      await s().integrations.insert({ orgId: other.org.id, id: 'bb', ruleSetId: other.ruleSetId, description: null }, t);
      expect((await s().integrations.list(org.id)).map((i) => i.id)).toEqual(['aa', 'mm', 'zz']);
    });

    test('delete answers whether it removed one; countUsingRuleSet counts the organisation\'s integrations on a set', async () => {
      const t = span();
      const { org, ruleSetId } = await withRuleSet(t);
      const second = randomUUID();
      await s().ruleSets.insert({ id: second, orgId: org.id, name: 'second', isDefault: false, ...rules() }, t);
      await s().integrations.insert({ orgId: org.id, id: 'one', ruleSetId, description: null }, t);
      await s().integrations.insert({ orgId: org.id, id: 'two', ruleSetId, description: null }, t);
      await s().integrations.insert({ orgId: org.id, id: 'three', ruleSetId: second, description: null }, t);
      expect(await s().integrations.countUsingRuleSet(org.id, ruleSetId)).toBe(2);
      expect(await s().integrations.countUsingRuleSet(org.id, second)).toBe(1);
      expect(await s().integrations.countUsingRuleSet(newOrgId(), ruleSetId)).toBe(0);
      expect(await s().integrations.delete(org.id, 'one')).toBe(true);
      expect(await s().integrations.delete(org.id, 'one')).toBe(false);
      expect(await s().integrations.delete(newOrgId(), 'two')).toBe(false);
      expect(await s().integrations.get(org.id, 'one')).toBeUndefined();
      expect(await s().integrations.countUsingRuleSet(org.id, ruleSetId)).toBe(1);
    });

    test('a second integration with the same id in one organisation, or one on an unknown rule set, is refused', async () => {
      const t = span();
      const { org, ruleSetId } = await withRuleSet(t);
      await s().integrations.insert({ orgId: org.id, id: 'dup', ruleSetId, description: 'first' }, t);
      expect(await refused(s().integrations.insert({ orgId: org.id, id: 'dup', ruleSetId, description: 'second' }, t))).toBe(true);
      expect(await refused(s().integrations.insert({ orgId: org.id, id: 'ghost', ruleSetId: randomUUID(), description: null }, t))).toBe(true);
      expect((await s().integrations.get(org.id, 'dup'))?.description).toBe('first');
      expect(await s().integrations.get(org.id, 'ghost')).toBeUndefined();
    });
  });

  describe(`${name} store: API keys`, () => {
    const newKey = async (orgId: string, t: number, over: { prefix?: string; name?: string | null; expiresAt?: number | null } = {}) => {
      const k = { id: randomUUID(), orgId, prefix: over.prefix ?? `sk_${alnum(8)}`, hash: newHash(), name: over.name ?? null, createdAt: t, expiresAt: over.expiresAt ?? null };
      await s().apiKeys.insert(k);
      return k;
    };

    test('an inserted key comes back with its fields, the unset ones null', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const k = await newKey(org.id, t, { name: 'ci', expiresAt: t + HOUR });
      expect(await s().apiKeys.get(k.id)).toEqual({ ...k, lastUsedAt: null, revokedAt: null, replacedBy: null });
      const bare = await newKey(org.id, t);
      expect(await s().apiKeys.get(bare.id)).toEqual({ ...bare, name: null, expiresAt: null, lastUsedAt: null, revokedAt: null, replacedBy: null });
      expect(await s().apiKeys.get(randomUUID())).toBeUndefined();
    });

    test('findByPrefix gives every key with that prefix, across organisations', async () => {
      const t = span();
      const a = await newOrg(s(), t);
      const b = await newOrg(s(), t);
      const prefix = `sk_${alnum(8)}`;
      const k1 = await newKey(a.id, t, { prefix });
      const k2 = await newKey(b.id, t, { prefix });
      await newKey(a.id, t);
      expect((await s().apiKeys.findByPrefix(prefix)).map((k) => k.id).sort()).toEqual([k1.id, k2.id].sort());
      expect(await s().apiKeys.findByPrefix(`sk_${alnum(8)}`)).toEqual([]);
    });

    test('list gives the organisation\'s keys oldest first, ties by id', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const late = await newKey(org.id, t + 2);
      const tieA = await newKey(org.id, t + 1);
      const tieB = await newKey(org.id, t + 1);
      await newKey((await newOrg(s(), t)).id, t);
      expect((await s().apiKeys.list(org.id)).map((k) => k.id)).toEqual([...[tieA.id, tieB.id].sort(), late.id]);
    });

    test('touch records the last use to the minute: not again within it, never backwards', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const k = await newKey(org.id, t);
      await s().apiKeys.touch(k.id, t + 10);
      expect((await s().apiKeys.get(k.id))?.lastUsedAt).toBe(t + 10);
      await s().apiKeys.touch(k.id, t + 10 + LAST_USED_RESOLUTION_MS - 1);
      expect((await s().apiKeys.get(k.id))?.lastUsedAt).toBe(t + 10);
      await s().apiKeys.touch(k.id, t + 10 + LAST_USED_RESOLUTION_MS + 1);
      expect((await s().apiKeys.get(k.id))?.lastUsedAt).toBe(t + 10 + LAST_USED_RESOLUTION_MS + 1);
      await s().apiKeys.touch(k.id, t + 5);
      expect((await s().apiKeys.get(k.id))?.lastUsedAt).toBe(t + 10 + LAST_USED_RESOLUTION_MS + 1);
    });

    test('revoke takes effect once: the first time says so, a second keeps the first time', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const k = await newKey(org.id, t);
      expect(await s().apiKeys.revoke(k.id, t + 1)).toBe(true);
      expect(await s().apiKeys.revoke(k.id, t + 2)).toBe(false);
      expect((await s().apiKeys.get(k.id))?.revokedAt).toBe(t + 1);
      expect(await s().apiKeys.revoke(randomUUID(), t + 3)).toBe(false);
    });

    test('setExpiry sets the expiry and the successor (or none)', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const k = await newKey(org.id, t);
      const successor = await newKey(org.id, t);
      await s().apiKeys.setExpiry(k.id, t + HOUR, successor.id);
      expect(await s().apiKeys.get(k.id)).toMatchObject({ expiresAt: t + HOUR, replacedBy: successor.id });
      await s().apiKeys.setExpiry(k.id, t + 2 * HOUR, null);
      expect(await s().apiKeys.get(k.id)).toMatchObject({ expiresAt: t + 2 * HOUR, replacedBy: null });
      expect((await s().apiKeys.get(successor.id))?.expiresAt).toBeNull();
    });
  });

  describe(`${name} store: users`, () => {
    test('a user is found by id, by ref and by email, within its organisation only', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const u = { orgId: org.id, userRef: alnum(12), userId: 'alice', userEmail: 'alice@example.com', createdAt: t };
      await s().users.insert(u);
      expect(await s().users.byId(org.id, 'alice')).toEqual(u);
      expect(await s().users.byRef(org.id, u.userRef)).toEqual(u);
      expect(await s().users.byEmail(org.id, 'alice@example.com')).toEqual(u);
      expect(await s().users.byId(other.id, 'alice')).toBeUndefined();
      expect(await s().users.byRef(other.id, u.userRef)).toBeUndefined();
      expect(await s().users.byEmail(other.id, 'alice@example.com')).toBeUndefined();
      expect(await s().users.byId(org.id, 'bob')).toBeUndefined();
    });

    test('a user without an email has a null one and is found by no email', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const u = { orgId: org.id, userRef: alnum(12), userId: 'nomail', userEmail: null, createdAt: t };
      await s().users.insert(u);
      expect(await s().users.byId(org.id, 'nomail')).toEqual(u);
      expect(await s().users.byEmail(org.id, '')).toBeUndefined();
    });

    test('when users share an email, the oldest is the one found by it', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      await s().users.insert({ orgId: org.id, userRef: alnum(12), userId: 'newer', userEmail: 'shared@example.com', createdAt: t + 2 });
      await s().users.insert({ orgId: org.id, userRef: alnum(12), userId: 'older', userEmail: 'shared@example.com', createdAt: t + 1 });
      await s().users.insert({ orgId: org.id, userRef: alnum(12), userId: 'newest', userEmail: 'shared@example.com', createdAt: t + 3 });
      expect((await s().users.byEmail(org.id, 'shared@example.com'))?.userId).toBe('older');
    });

    test('setEmail changes the email the user is found by', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const ref = alnum(12);
      await s().users.insert({ orgId: org.id, userRef: ref, userId: 'carol', userEmail: 'old@example.com', createdAt: t });
      await s().users.setEmail(org.id, ref, 'new@example.com');
      expect((await s().users.byRef(org.id, ref))?.userEmail).toBe('new@example.com');
      expect((await s().users.byEmail(org.id, 'new@example.com'))?.userId).toBe('carol');
      expect(await s().users.byEmail(org.id, 'old@example.com')).toBeUndefined();
    });

    test('byRefs answers the users of one organisation among the refs, one read for a listing', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const a = { orgId: org.id, userRef: alnum(12), userId: 'ann', userEmail: null, createdAt: t };
      const b = { orgId: org.id, userRef: alnum(12), userId: 'ben', userEmail: 'ben@example.com', createdAt: t };
      const foreign = { orgId: other.id, userRef: alnum(12), userId: 'cat', userEmail: null, createdAt: t };
      for (const u of [a, b, foreign]) await s().users.insert(u);
      const found = await s().users.byRefs(org.id, [b.userRef, a.userRef, foreign.userRef, 'nobody', a.userRef]);
      expect([...found].sort((x, y) => x.userId.localeCompare(y.userId))).toEqual([a, b]);
      expect(await s().users.byRefs(org.id, [])).toEqual([]);
    });

    test('a second user with the same ref or the same id in one organisation is refused; another organisation may', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const ref = alnum(12);
      await s().users.insert({ orgId: org.id, userRef: ref, userId: 'dave', userEmail: null, createdAt: t });
      expect(await refused(s().users.insert({ orgId: org.id, userRef: ref, userId: 'erin', userEmail: null, createdAt: t }))).toBe(true);
      expect(await refused(s().users.insert({ orgId: org.id, userRef: alnum(12), userId: 'dave', userEmail: null, createdAt: t }))).toBe(true);
      await s().users.insert({ orgId: other.id, userRef: ref, userId: 'dave', userEmail: null, createdAt: t });
      expect((await s().users.byRef(org.id, ref))?.userId).toBe('dave');
      expect(await s().users.byId(org.id, 'erin')).toBeUndefined();
    });
  });

  describe(`${name} store: tokens`, () => {
    test('an inserted token comes back whole by id and by password hash, its later fields null', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const scopes: RuleLayer[] = [
        { publish: ['a/#'], subscribe: null, presence: null, history: true, denyPublish: ['a/b'] },
        { publish: null, subscribe: [], presence: false, history: null },
      ];
      const tok = await insertToken(s(), org.id, 'uref', t, { integrationId: 'crm', provider: 'supabase', scopes, apiKeyId: randomUUID(), expiresAt: t + 2 * HOUR });
      const expected: TokenRecord = { ...tok, refreshedAt: null, lastUsedAt: null, revokedAt: null, revokeReason: null };
      expect(await s().tokens.get(tok.id)).toEqual(expected);
      expect(await s().tokens.byPasswordHash(tok.passwordHash)).toEqual(expected);
      expect(await s().tokens.get(randomUUID())).toBeUndefined();
      expect(await s().tokens.byPasswordHash(newHash())).toBeUndefined();
    });

    test('rotate makes the new password the current one, extends the expiry, and the old password keeps finding the token', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const tok = await insertToken(s(), org.id, 'uref', t);
      const next = newHash();
      expect(await s().tokens.rotate(tok.id, tok.passwordHash, next, t + 3 * HOUR, t + 100)).toBe(true);
      expect(await s().tokens.get(tok.id)).toMatchObject({ passwordHash: next, expiresAt: t + 3 * HOUR, refreshedAt: t + 100, issuedAt: t });
      expect((await s().tokens.byPasswordHash(next))?.id).toBe(tok.id);
      expect((await s().tokens.byPasswordHash(tok.passwordHash))?.passwordHash).toBe(next);
    });

    test('rotate refuses a password that is not the current one, and changes nothing', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const tok = await insertToken(s(), org.id, 'uref', t);
      const next = newHash();
      await s().tokens.rotate(tok.id, tok.passwordHash, next, t + 2 * HOUR, t + 100);
      const stale = newHash();
      expect(await s().tokens.rotate(tok.id, tok.passwordHash, stale, t + 5 * HOUR, t + 200)).toBe(false);
      expect(await s().tokens.rotate(tok.id, newHash(), stale, t + 5 * HOUR, t + 200)).toBe(false);
      expect(await s().tokens.rotate(randomUUID(), next, stale, t + 5 * HOUR, t + 200)).toBe(false);
      expect(await s().tokens.get(tok.id)).toMatchObject({ passwordHash: next, expiresAt: t + 2 * HOUR, refreshedAt: t + 100 });
      expect(await s().tokens.byPasswordHash(stale)).toBeUndefined();
    });

    test('rotate refuses a revoked token and an expired one (expiry at the very instant included)', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const revoked = await insertToken(s(), org.id, 'uref', t);
      await s().tokens.revoke(revoked.id, 'test', t + 1);
      const fresh = newHash();
      expect(await s().tokens.rotate(revoked.id, revoked.passwordHash, fresh, t + 2 * HOUR, t + 2)).toBe(false);
      const expiring = await insertToken(s(), org.id, 'uref', t, { expiresAt: t + 500 });
      expect(await s().tokens.rotate(expiring.id, expiring.passwordHash, fresh, t + 2 * HOUR, t + 500)).toBe(false);
      expect(await s().tokens.rotate(expiring.id, expiring.passwordHash, fresh, t + 2 * HOUR, t + 501)).toBe(false);
      expect(await s().tokens.byPasswordHash(fresh)).toBeUndefined();
      expect((await s().tokens.get(expiring.id))?.refreshedAt).toBeNull();
      // A moment before its expiry it still rotates.
      expect(await s().tokens.rotate(expiring.id, expiring.passwordHash, fresh, t + 2 * HOUR, t + 499)).toBe(true);
    });

    test(`a token keeps its first password and its ${PASSWORDS_KEPT_PER_TOKEN - 1} most recent ones, no others`, async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const tok = await insertToken(s(), org.id, 'uref', t);
      const hashes = [tok.passwordHash];
      const rotations = PASSWORDS_KEPT_PER_TOKEN + 4;
      for (let i = 1; i <= rotations; i++) {
        hashes.push(newHash());
        expect(await s().tokens.rotate(tok.id, hashes[i - 1]!, hashes[i]!, t + HOUR + i, t + i * SECOND)).toBe(true);
        // While fewer than the bound, every password still opens.
        if (i < PASSWORDS_KEPT_PER_TOKEN) {
          for (const h of hashes) expect((await s().tokens.byPasswordHash(h))?.id).toBe(tok.id);
        }
      }
      const firstRecent = rotations - PASSWORDS_KEPT_PER_TOKEN + 2;
      const found = async (hs: string[]) => Promise.all(hs.map(async (h) => (await s().tokens.byPasswordHash(h))?.id));
      expect(await found([hashes[0]!, ...hashes.slice(firstRecent)])).toEqual(Array(PASSWORDS_KEPT_PER_TOKEN).fill(tok.id));
      expect(await found(hashes.slice(1, firstRecent))).toEqual(Array(firstRecent - 1).fill(undefined));
    });

    test('rotations within one millisecond keep the first password and the most recent ones all the same', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const tok = await insertToken(s(), org.id, 'uref', t);
      const hashes = [tok.passwordHash];
      const rotations = PASSWORDS_KEPT_PER_TOKEN + 2;
      for (let i = 1; i <= rotations; i++) {
        hashes.push(newHash());
        expect(await s().tokens.rotate(tok.id, hashes[i - 1]!, hashes[i]!, t + HOUR, t + 1)).toBe(true);
      }
      const firstRecent = rotations - PASSWORDS_KEPT_PER_TOKEN + 2;
      for (const h of [hashes[0]!, ...hashes.slice(firstRecent)]) expect((await s().tokens.byPasswordHash(h))?.id).toBe(tok.id);
      for (const h of hashes.slice(1, firstRecent)) expect(await s().tokens.byPasswordHash(h)).toBeUndefined();
    });

    test('two rotations racing with the same current password: exactly one wins, the loser\'s password opens nothing', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const tok = await insertToken(s(), org.id, 'uref', t);
      const [a, b] = [newHash(), newHash()];
      const results = await Promise.all([
        s().tokens.rotate(tok.id, tok.passwordHash, a, t + 2 * HOUR, t + 10),
        s().tokens.rotate(tok.id, tok.passwordHash, b, t + 3 * HOUR, t + 10),
      ]);
      expect([...results].sort()).toEqual([false, true]);
      const [winner, loser] = results[0] ? [a, b] : [b, a];
      expect((await s().tokens.get(tok.id))?.passwordHash).toBe(winner);
      expect((await s().tokens.byPasswordHash(winner))?.id).toBe(tok.id);
      expect(await s().tokens.byPasswordHash(loser)).toBeUndefined();
    });

    test('revoke takes effect once: the first reason and time stay', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const tok = await insertToken(s(), org.id, 'uref', t);
      expect(await s().tokens.revoke(tok.id, 'user_logout', t + 1)).toBe(true);
      expect(await s().tokens.revoke(tok.id, 'again', t + 2)).toBe(false);
      expect(await s().tokens.get(tok.id)).toMatchObject({ revokedAt: t + 1, revokeReason: 'user_logout' });
      expect(await s().tokens.revoke(randomUUID(), 'none', t + 3)).toBe(false);
      // A revoked token is still found by its password (the broker answers "revoked", not "unknown").
      expect((await s().tokens.byPasswordHash(tok.passwordHash))?.revokedAt).toBe(t + 1);
    });

    test('liveOfUser and liveOfKey give the unrevoked, unexpired tokens of that user or key in that organisation', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const key = randomUUID();
      const now = t + 1000;
      const live = await insertToken(s(), org.id, 'alice', t, { apiKeyId: key, expiresAt: now + 1 });
      const live2 = await insertToken(s(), org.id, 'alice', t, { apiKeyId: key });
      await insertToken(s(), org.id, 'alice', t, { apiKeyId: key, expiresAt: now }); // expires at this instant
      const revoked = await insertToken(s(), org.id, 'alice', t, { apiKeyId: key });
      await s().tokens.revoke(revoked.id, 'test', t + 1);
      const bob = await insertToken(s(), org.id, 'bob', t, { apiKeyId: key });
      const otherKey = await insertToken(s(), org.id, 'alice', t, { apiKeyId: randomUUID() });
      await insertToken(s(), other.id, 'alice', t, { apiKeyId: key });

      const ids = (ts: TokenRecord[]) => ts.map((x) => x.id).sort();
      expect(ids(await s().tokens.liveOfUser(org.id, 'alice', now))).toEqual([live.id, live2.id, otherKey.id].sort());
      expect(ids(await s().tokens.liveOfKey(org.id, key, now))).toEqual([live.id, live2.id, bob.id].sort());
      expect(await s().tokens.liveOfUser(org.id, 'nobody', now)).toEqual([]);
      expect(await s().tokens.liveOfKey(newOrgId(), key, now)).toEqual([]);
    });

    test('listOfUser gives the user\'s tokens newest first, up to the limit, ended ones too', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const made: string[] = [];
      for (const at of [t + 3, t + 1, t + 4, t + 2]) made.push((await insertToken(s(), org.id, 'alice', at, { expiresAt: t + 5 })).id);
      await insertToken(s(), org.id, 'bob', t + 9);
      await s().tokens.revoke(made[0]!, 'test', t + 5);
      const byIssue = [made[2]!, made[0]!, made[3]!, made[1]!];
      expect((await s().tokens.listOfUser(org.id, 'alice')).map((x) => x.id)).toEqual(byIssue);
      expect((await s().tokens.listOfUser(org.id, 'alice', 2)).map((x) => x.id)).toEqual(byIssue.slice(0, 2));
    });

    test('listOfOrg gives the organisation\'s tokens newest first, or only the live ones', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const now = t + 1000;
      const old = await insertToken(s(), org.id, 'a', t + 1, { expiresAt: now - 1 });
      const live = await insertToken(s(), org.id, 'b', t + 2, { expiresAt: now + HOUR });
      const revoked = await insertToken(s(), org.id, 'c', t + 3, { expiresAt: now + HOUR });
      await s().tokens.revoke(revoked.id, 'test', t + 4);
      const newest = await insertToken(s(), org.id, 'a', t + 5, { expiresAt: now + HOUR });
      await insertToken(s(), (await newOrg(s(), t)).id, 'a', t + 6);
      expect((await s().tokens.listOfOrg(org.id, false, now)).map((x) => x.id)).toEqual([newest.id, revoked.id, live.id, old.id]);
      expect((await s().tokens.listOfOrg(org.id, true, now)).map((x) => x.id)).toEqual([newest.id, live.id]);
    });

    test('touch records when a session of the token last ended, never backwards', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const tok = await insertToken(s(), org.id, 'uref', t);
      await s().tokens.touch(tok.id, t + 50);
      expect((await s().tokens.get(tok.id))?.lastUsedAt).toBe(t + 50);
      await s().tokens.touch(tok.id, t + 20);
      expect((await s().tokens.get(tok.id))?.lastUsedAt).toBe(t + 50);
      await s().tokens.touch(tok.id, t + 51);
      expect((await s().tokens.get(tok.id))?.lastUsedAt).toBe(t + 51);
    });

    test('purgeExpired removes the tokens that expired before the instant, with their passwords, and counts them', async () => {
      const t = span();
      await s().tokens.purgeExpired(t); // what earlier tests left
      const org = await newOrg(s(), t);
      const gone1 = await insertToken(s(), org.id, 'a', t, { expiresAt: t + 10 });
      const gone2 = await insertToken(s(), org.id, 'b', t, { expiresAt: t + 99 });
      await s().tokens.rotate(gone2.id, gone2.passwordHash, newHash(), t + 99, t + 1);
      const atCutoff = await insertToken(s(), org.id, 'c', t, { expiresAt: t + 100 });
      const later = await insertToken(s(), org.id, 'd', t, { expiresAt: t + HOUR });
      expect(await s().tokens.purgeExpired(t + 100)).toBe(2);
      expect(await s().tokens.get(gone1.id)).toBeUndefined();
      expect(await s().tokens.get(gone2.id)).toBeUndefined();
      expect(await s().tokens.byPasswordHash(gone1.passwordHash)).toBeUndefined();
      expect(await s().tokens.byPasswordHash(gone2.passwordHash)).toBeUndefined();
      expect((await s().tokens.get(atCutoff.id))?.id).toBe(atCutoff.id);
      expect((await s().tokens.byPasswordHash(later.passwordHash))?.id).toBe(later.id);
      expect(await s().tokens.purgeExpired(t + 100)).toBe(0);
    });

    test('a second token with the same id or the same password hash is refused, and so is one of an unknown organisation', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const tok = await insertToken(s(), org.id, 'a', t);
      expect(await refused(s().tokens.insert(newToken(org.id, 'b', t, { id: tok.id })))).toBe(true);
      const sameHash = newToken(org.id, 'c', t, { passwordHash: tok.passwordHash });
      expect(await refused(s().tokens.insert(sameHash))).toBe(true);
      expect(await s().tokens.get(sameHash.id)).toBeUndefined();
      expect(await refused(s().tokens.insert(newToken(newOrgId(), 'd', t)))).toBe(true);
      expect(await s().tokens.get(tok.id)).toMatchObject({ userRef: 'a', passwordHash: tok.passwordHash });
      expect((await s().tokens.byPasswordHash(tok.passwordHash))?.id).toBe(tok.id);
    });
  });

  describe(`${name} store: the change feed`, () => {
    test('appended changes come back after the position they follow, in append order, with increasing seq', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const from = await s().changes.lastSeq();
      await s().changes.append('token.revoked', org.id, 'tok-1', t + 1);
      await s().changes.append('rules.changed', org.id, null, t + 2);
      await s().changes.append('session.kick', org.id, 'client/1', t + 3);
      const rows = await s().changes.since(from);
      expect(rows.map(({ seq: _seq, ...rest }) => rest)).toEqual([
        { at: t + 1, kind: 'token.revoked', orgId: org.id, ref: 'tok-1' },
        { at: t + 2, kind: 'rules.changed', orgId: org.id, ref: null },
        { at: t + 3, kind: 'session.kick', orgId: org.id, ref: 'client/1' },
      ]);
      for (const r of rows) expect(typeof r.seq).toBe('number');
      expect(rows[0]!.seq).toBeGreaterThan(from);
      expect(rows[1]!.seq).toBeGreaterThan(rows[0]!.seq);
      expect(rows[2]!.seq).toBeGreaterThan(rows[1]!.seq);
      expect(await s().changes.lastSeq()).toBe(rows[2]!.seq);
      expect(await s().changes.since(rows[2]!.seq)).toEqual([]);
      expect(await s().changes.since(rows[0]!.seq)).toEqual(rows.slice(1));
    });

    test('since answers at most 10 000 changes at a time, the oldest first', async () => {
      const t = span();
      const from = await s().changes.lastSeq();
      await s().transaction(async (tx) => {
        for (let i = 0; i < 10_001; i++) await tx.changes.append('org.changed', 'org_bulk', String(i), t + i);
      });
      const page = await s().changes.since(from);
      expect(page).toHaveLength(10_000);
      expect(page[0]!.ref).toBe('0');
      expect(page[9_999]!.ref).toBe('9999');
      expect((await s().changes.since(page[9_999]!.seq)).map((c) => c.ref)).toEqual(['10000']);
    }, 60_000);

    test('trim removes the changes written before the instant, whichever organisation', async () => {
      const t = span();
      const from = await s().changes.lastSeq();
      await s().changes.append('org.changed', newOrgId(), null, t + 1);
      await s().changes.append('org.changed', newOrgId(), null, t + 2);
      await s().changes.append('org.changed', newOrgId(), 'kept', t + 3);
      await s().changes.trim(t + 3);
      expect((await s().changes.since(from)).map((c) => [c.at, c.ref])).toEqual([[t + 3, 'kept']]);
    });

    test('seq never goes back, even when every row before it was trimmed', async () => {
      const t = span();
      await s().changes.append('org.changed', newOrgId(), null, t + 1);
      const last = await s().changes.lastSeq();
      await s().changes.trim(t + 2);
      await s().changes.append('org.changed', newOrgId(), 'after', t + 3);
      const [row] = await s().changes.since(0);
      expect(row?.ref).toBe('after');
      expect(row!.seq).toBeGreaterThan(last);
      expect(await s().changes.lastSeq()).toBe(row!.seq);
    });

    test('a reader polling by position never misses a change that commits after a later one', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const from = await s().changes.lastSeq();
      const seen: (string | null)[] = [];
      let position = from;
      /** What a broker does every beat: read after its position, move its position to the last read. */
      const poll = async () => {
        for (const c of await s().changes.since(position)) {
          seen.push(c.ref);
          position = c.seq;
        }
      };
      const hold = deferred();
      const appended = deferred();
      const slow = s().transaction(async (tx) => {
        await tx.changes.append('token.revoked', org.id, 'slow', t + 1);
        appended.release();
        await hold.promise;
      });
      await appended.promise;
      const fast = s().changes.append('token.revoked', org.id, 'fast', t + 2);
      await Promise.race([fast, settle(100)]);
      const polled = poll();
      await Promise.race([polled, settle(100)]);
      hold.release();
      await Promise.all([slow, fast, polled]);
      await poll();
      expect([...seen].sort()).toEqual(['fast', 'slow']);
    });

    test('changes appended by transactions committed together are all read, in seq order', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const from = await s().changes.lastSeq();
      await Promise.all(Array.from({ length: 10 }, (_, i) => s().transaction((tx) => tx.changes.append('token.refreshed', org.id, `t${i}`, t + i))));
      const rows = await s().changes.since(from);
      expect(rows.map((r) => r.ref).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `t${i}`).sort());
      expect(rows.map((r) => r.seq)).toEqual([...rows.map((r) => r.seq)].sort((a, b) => a - b));
    });
  });

  describe(`${name} store: the audit trail`, () => {
    test('a recorded entry comes back whole: every field, nested detail, nulls for what was not given', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const detail = { reason: 'invalid_token_password', nested: { list: [1, 'two', null, true], quote: 'say "hi" \\ ☃' } };
      await s().audit.record({
        event: 'token.refresh_failed', orgId: org.id, userId: 'alice', userRef: 'aref', tokenId: 'tok', ip: '2001:db8::1',
        userAgent: 'agent/1', expiresAt: t + HOUR, detail,
      }, t + 1);
      await s().audit.record({ event: 'org.created' }, t + 2);
      const [bare, full] = await s().audit.query({ limit: 2 });
      expect(full).toEqual({
        id: expect.any(Number), at: t + 1, event: 'token.refresh_failed', orgId: org.id, userId: 'alice', userRef: 'aref', tokenId: 'tok',
        ip: '2001:db8::1', userAgent: 'agent/1', expiresAt: t + HOUR, detail,
      });
      expect(bare).toEqual({
        id: expect.any(Number), at: t + 2, event: 'org.created', orgId: null, userId: null, userRef: null, tokenId: null,
        ip: null, userAgent: null, expiresAt: null, detail: null,
      });
      expect(bare!.id).toBeGreaterThan(full!.id);
    });

    test('a user agent is kept to its first 512 characters', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      await s().audit.record({ event: 'auth.failed', orgId: org.id, userAgent: 'x'.repeat(511) + 'yz' + 'w'.repeat(100) }, t);
      expect((await s().audit.query({ orgId: org.id }))[0]?.userAgent).toBe('x'.repeat(511) + 'y');
    });

    test('query filters by organisation, by user (id or ref), by event and before an id, newest first', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      await s().audit.record({ event: 'token.minted', orgId: org.id, userId: 'alice', userRef: 'aref' }, t + 1);
      await s().audit.record({ event: 'token.revoked', orgId: org.id, userRef: 'aref' }, t + 2);
      await s().audit.record({ event: 'token.minted', orgId: org.id, userId: 'bob', userRef: 'bref' }, t + 3);
      await s().audit.record({ event: 'token.minted', orgId: other.id, userId: 'alice', userRef: 'aref' }, t + 4);
      const ats = (es: { at: number }[]) => es.map((e) => e.at - t);

      expect(ats(await s().audit.query({ orgId: org.id }))).toEqual([3, 2, 1]);
      expect(ats(await s().audit.query({ orgId: org.id, userId: 'alice' }))).toEqual([1]);
      expect(ats(await s().audit.query({ orgId: org.id, userId: 'aref' }))).toEqual([2, 1]);
      expect(ats(await s().audit.query({ orgId: org.id, event: 'token.minted' }))).toEqual([3, 1]);
      const all = await s().audit.query({ orgId: org.id });
      expect(ats(await s().audit.query({ orgId: org.id, beforeId: all[0]!.id }))).toEqual([2, 1]);
      expect(ats(await s().audit.query({ orgId: org.id, beforeId: all[2]!.id }))).toEqual([]);
      expect(ats(await s().audit.query({ userId: 'alice', limit: 2 }))).toEqual([4, 1]);
      expect(ats(await s().audit.query({ orgId: org.id, userId: 'bob', event: 'token.revoked' }))).toEqual([]);
      expect(ats(await s().audit.query({ orgId: undefined, userId: undefined, event: undefined, beforeId: undefined, limit: undefined })).slice(0, 4)).toEqual([4, 3, 2, 1]);
    });

    test('query answers 100 entries by default, the limit asked for, and never more than 1000', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      await s().transaction(async (tx) => {
        for (let i = 0; i < 1001; i++) await tx.audit.record({ event: 'auth.failed', orgId: org.id, detail: { i } }, t + i);
      });
      const newest = await s().audit.query({ orgId: org.id });
      expect(newest).toHaveLength(100);
      expect(newest[0]?.detail).toEqual({ i: 1000 });
      expect(await s().audit.query({ orgId: org.id, limit: 7 })).toHaveLength(7);
      expect(await s().audit.query({ orgId: org.id, limit: 5000 })).toHaveLength(1000);
    });

    test('all reads an organisation\'s entries before an instant, oldest first; without an organisation, every one', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      await s().audit.record({ event: 'key.created', orgId: org.id }, t + 1);
      await s().audit.record({ event: 'key.created', orgId: other.id }, t + 2);
      await s().audit.record({ event: 'key.rotated', orgId: org.id }, t + 3);
      await s().audit.record({ event: 'key.revoked', orgId: org.id }, t + 4);
      const read = async (q: { orgId: string | null; before: number | null }) => [...(await s().audit.all(q))].filter((e) => e.at > t).map((e) => [e.event, e.at - t]);
      expect(await read({ orgId: org.id, before: null })).toEqual([['key.created', 1], ['key.rotated', 3], ['key.revoked', 4]]);
      expect(await read({ orgId: org.id, before: t + 4 })).toEqual([['key.created', 1], ['key.rotated', 3]]);
      expect(await read({ orgId: null, before: t + 3 })).toEqual([['key.created', 1], ['key.created', 2]]);
      expect(await read({ orgId: null, before: null })).toHaveLength(4);
    });
  });

  describe(`${name} store: sessions`, () => {
    test('an upserted session is listed whole; the organisation\'s sessions come oldest connect first', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const late = newSession(org.id, t + 3);
      const early = newSession(org.id, t + 1, { address: null, protocol: 'mqtt/5.0' });
      const mid = newSession(org.id, t + 2);
      for (const x of [late, early, mid]) await s().sessions.upsert(x);
      await s().sessions.upsert(newSession((await newOrg(s(), t)).id, t));
      expect(await s().sessions.list(org.id)).toEqual([early, mid, late]);
    });

    test('byClient answers one session of an organisation by its client id', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const x = newSession(org.id, t + 1);
      await s().sessions.upsert(x);
      await s().sessions.upsert(newSession(org.id, t + 2));
      expect(await s().sessions.byClient(org.id, x.clientId)).toEqual(x);
      expect(await s().sessions.byClient((await newOrg(s(), t)).id, x.clientId)).toBeUndefined();
      expect(await s().sessions.byClient(org.id, 'no-such-client')).toBeUndefined();
    });

    test('a session with the same organisation and client id replaces the one there (a takeover)', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const first = newSession(org.id, t + 1);
      await s().sessions.upsert(first);
      const takeover = newSession(org.id, t + 2, { clientId: first.clientId });
      await s().sessions.upsert(takeover);
      expect(await s().sessions.list(org.id)).toEqual([takeover]);
      // The same client id in another organisation is another session.
      const elsewhere = newSession((await newOrg(s(), t)).id, t + 3, { clientId: first.clientId });
      await s().sessions.upsert(elsewhere);
      expect(await s().sessions.list(org.id)).toEqual([takeover]);
      expect(await s().sessions.list(elsewhere.orgId)).toEqual([elsewhere]);
    });

    test('removeUpTo removes a session only for the broker holding it, and only up to the connect it names', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const x = newSession(org.id, t + 10);
      await s().sessions.upsert(x);
      expect(await s().sessions.removeUpTo(org.id, x.clientId, unique('other-broker'), t + 10)).toBe(false);
      expect(await s().sessions.removeUpTo(org.id, x.clientId, x.brokerId, t + 9)).toBe(false);
      expect(await s().sessions.list(org.id)).toEqual([x]);
      expect(await s().sessions.removeUpTo(org.id, x.clientId, x.brokerId, t + 10)).toBe(true);
      expect(await s().sessions.list(org.id)).toEqual([]);
      expect(await s().sessions.removeUpTo(org.id, x.clientId, x.brokerId, t + 10)).toBe(false);
      const y = newSession(org.id, t + 20);
      await s().sessions.upsert(y);
      expect(await s().sessions.removeUpTo(org.id, y.clientId, y.brokerId, t + 30)).toBe(true);
    });

    test('ofUser and countOfUser see the user\'s sessions in that organisation only', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const a1 = newSession(org.id, t + 1, { userRef: 'alice' });
      const a2 = newSession(org.id, t + 2, { userRef: 'alice' });
      for (const x of [a1, a2, newSession(org.id, t + 3, { userRef: 'bob' }), newSession(other.id, t + 4, { userRef: 'alice' })]) await s().sessions.upsert(x);
      expect((await s().sessions.ofUser(org.id, 'alice')).sort((p, q) => p.connectedAt - q.connectedAt)).toEqual([a1, a2]);
      expect(await s().sessions.countOfUser(org.id, 'alice')).toBe(2);
      expect(await s().sessions.countOfUser(org.id, 'bob')).toBe(1);
      expect(await s().sessions.countOfUser(org.id, 'carol')).toBe(0);
      expect(await s().sessions.ofUser(org.id, 'carol')).toEqual([]);
    });

    test('brokerIds names each broker with sessions once; clearBroker removes that broker\'s sessions only', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const [b1, b2] = [unique('broker'), unique('broker')];
      for (const x of [newSession(org.id, t + 1, { brokerId: b1 }), newSession(org.id, t + 2, { brokerId: b1 }), newSession(org.id, t + 3, { brokerId: b2 })]) await s().sessions.upsert(x);
      const ids = await s().sessions.brokerIds();
      expect(ids.filter((b) => b === b1 || b === b2).sort()).toEqual([b1, b2].sort());
      await s().sessions.clearBroker(b1);
      expect((await s().sessions.list(org.id)).map((x) => x.brokerId)).toEqual([b2]);
      expect(await s().sessions.brokerIds()).not.toContain(b1);
      expect(await s().sessions.brokerIds()).toContain(b2);
    });

    test('setExpiryOfToken moves the expiry of every session on that token, no other', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const tokenId = randomUUID();
      const a = newSession(org.id, t + 1, { tokenId });
      const b = newSession(org.id, t + 2, { tokenId });
      const c = newSession(org.id, t + 3);
      for (const x of [a, b, c]) await s().sessions.upsert(x);
      await s().sessions.setExpiryOfToken(tokenId, t + 5 * HOUR);
      expect((await s().sessions.list(org.id)).map((x) => x.expiresAt)).toEqual([t + 5 * HOUR, t + 5 * HOUR, c.expiresAt]);
    });
  });

  describe(`${name} store: message history`, () => {
    test('appended messages are read newest first with their exact bytes, qos and time', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await s().history.appendBatch([
        { orgId: org.id, topic: 'chat/1', payload: every, qos: 0, at: t + 1 },
        { orgId: org.id, topic: 'chat/1', payload: Buffer.alloc(0), qos: 1, at: t + 2 },
        { orgId: org.id, topic: 'chat/1', payload: Buffer.from('héllo ☃'), qos: 2, at: t + 3 },
      ]);
      const read = await s().history.read(org.id, 'chat/1', 10);
      expect(read.map(({ id: _id, ...m }) => m)).toEqual([
        { topic: 'chat/1', payload: Buffer.from('héllo ☃'), qos: 2, at: t + 3 },
        { topic: 'chat/1', payload: Buffer.alloc(0), qos: 1, at: t + 2 },
        { topic: 'chat/1', payload: every, qos: 0, at: t + 1 },
      ]);
      for (const m of read) {
        expect(Buffer.isBuffer(m.payload)).toBe(true);
        expect(typeof m.id).toBe('number');
      }
      expect(read[0]!.id).toBeGreaterThan(read[1]!.id);
      expect(read[1]!.id).toBeGreaterThan(read[2]!.id);
      expect((await s().history.read(org.id, 'chat/1', 2)).map((m) => m.at)).toEqual([t + 3, t + 2]);
      expect(await s().history.read(org.id, 'chat/2', 10)).toEqual([]);
    });

    test('each topic keeps its newest `capacity` messages; other topics and organisations are untouched', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const cap = s().history.capacity;
      expect(cap).toBeGreaterThan(0);
      const msg = (orgId: string, topic: string, i: number) => ({ orgId, topic, payload: Buffer.from(String(i)), qos: 0, at: t + i });
      await s().history.appendBatch([msg(org.id, 'quiet', 0), msg(other.id, 'busy', 0)]);
      await s().history.appendBatch(Array.from({ length: cap - 2 }, (_, i) => msg(org.id, 'busy', i + 1)));
      await s().history.appendBatch(Array.from({ length: 7 }, (_, i) => msg(org.id, 'busy', cap - 1 + i)));
      const busy = await s().history.read(org.id, 'busy', cap + 100);
      expect(busy).toHaveLength(cap);
      expect(busy[0]!.at).toBe(t + cap + 5);
      expect(busy[cap - 1]!.at).toBe(t + 6);
      expect(await s().history.read(org.id, 'quiet', cap)).toHaveLength(1);
      expect(await s().history.read(other.id, 'busy', cap)).toHaveLength(1);
    });

    test('usage counts an organisation\'s topics and payload bytes; hasTopic says whether a topic has any', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      expect(await s().history.usage(org.id)).toEqual({ topics: 0, bytes: 0 });
      expect(await s().history.hasTopic(org.id, 'a')).toBe(false);
      await s().history.appendBatch([
        { orgId: org.id, topic: 'a', payload: Buffer.alloc(10), qos: 0, at: t },
        { orgId: org.id, topic: 'a', payload: Buffer.alloc(5), qos: 0, at: t },
        { orgId: org.id, topic: 'b', payload: Buffer.alloc(0), qos: 0, at: t },
        { orgId: other.id, topic: 'c', payload: Buffer.alloc(1000), qos: 0, at: t },
      ]);
      expect(await s().history.usage(org.id)).toEqual({ topics: 2, bytes: 15 });
      expect(await s().history.hasTopic(org.id, 'a')).toBe(true);
      expect(await s().history.hasTopic(org.id, 'b')).toBe(true);
      expect(await s().history.hasTopic(org.id, 'c')).toBe(false);
      expect(await s().history.hasTopic(other.id, 'c')).toBe(true);
    });

    test('an empty batch stores nothing and does not fail', async () => {
      const org = await newOrg(s(), span());
      await s().history.appendBatch([]);
      expect(await s().history.usage(org.id)).toEqual({ topics: 0, bytes: 0 });
    });
  });

  describe(`${name} store: settings`, () => {
    test('a setting is absent until set, overwritten by a second set, and absent again after delete', async () => {
      const key = unique('setting');
      expect(await s().settings.get(key)).toBeUndefined();
      await s().settings.set(key, 'first');
      expect(await s().settings.get(key)).toBe('first');
      await s().settings.set(key, '{"json": ["ü", "☃"]}');
      expect(await s().settings.get(key)).toBe('{"json": ["ü", "☃"]}');
      await s().settings.set(key, '');
      expect(await s().settings.get(key)).toBe('');
      await s().settings.delete(key);
      expect(await s().settings.get(key)).toBeUndefined();
      await s().settings.delete(key);
      expect(await s().settings.get(key)).toBeUndefined();
    });
  });

  describe(`${name} store: usage samples`, () => {
    const sample = (orgId: string, at: number, over: Partial<UsageSample> = {}): UsageSample => ({
      orgId, brokerId: 'b1', at, intervalMs: 5000, connections: 3, messages: 5_000_000_000, ...over,
    });

    test('recorded samples are read back after an instant, oldest first, for that organisation only', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const a = sample(org.id, t + 3, { brokerId: 'b2', connections: 0, messages: 0 });
      const b = sample(org.id, t + 1);
      const c = sample(org.id, t + 2, { intervalMs: 4999 });
      await s().usage.record([a, b, sample(other.id, t + 2)], t + 3);
      await s().usage.record([c], t + 3);
      expect(await s().usage.since(org.id, t)).toEqual([b, c, a]);
      expect(await s().usage.since(org.id, t + 1)).toEqual([c, a]);
      expect(await s().usage.since(org.id, t + 3)).toEqual([]);
    });

    test('recording purges every sample older than the retention before now, whichever organisation', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const now = t + USAGE_RETENTION_MS + 100;
      await s().usage.record([sample(org.id, t + 99), sample(org.id, t + 100), sample(other.id, t + 50)], t + 100);
      await s().usage.record([], now);
      expect((await s().usage.since(org.id, 0)).map((x) => x.at)).toEqual([t + 100]);
      expect(await s().usage.since(other.id, 0)).toEqual([]);
    });
  });

  describe(`${name} store: identity providers`, () => {
    test('an inserted provider comes back whole by name and by issuer, within its organisation only', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const other = await newOrg(s(), t);
      const p = newProvider(org.id, t, { type: 'supabase', jwksUrl: null, secret: 'hs256 secret', audience: null, userIdClaim: 'sub', emailClaim: 'email' });
      await s().providers.insert(p);
      expect(await s().providers.get(org.id, p.name)).toEqual(p);
      expect(await s().providers.byIssuer(org.id, p.issuer)).toEqual(p);
      expect(await s().providers.get(other.id, p.name)).toBeUndefined();
      expect(await s().providers.byIssuer(other.id, p.issuer)).toBeUndefined();
      expect(await s().providers.byIssuer(org.id, `${p.issuer}x`)).toBeUndefined();
    });

    test('list gives the organisation\'s providers by name; delete answers whether it removed one', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      for (const n of ['zitadel', 'auth0', 'keycloak']) await s().providers.insert(newProvider(org.id, t, { name: n }));
      await s().providers.insert(newProvider((await newOrg(s(), t)).id, t, { name: 'other' }));
      expect((await s().providers.list(org.id)).map((p) => p.name)).toEqual(['auth0', 'keycloak', 'zitadel']);
      expect(await s().providers.delete(org.id, 'keycloak')).toBe(true);
      expect(await s().providers.delete(org.id, 'keycloak')).toBe(false);
      expect((await s().providers.list(org.id)).map((p) => p.name)).toEqual(['auth0', 'zitadel']);
    });

    test('a second provider with the same name or issuer in one organisation is refused; another organisation may', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const p = newProvider(org.id, t);
      await s().providers.insert(p);
      expect(await refused(s().providers.insert(newProvider(org.id, t, { name: p.name })))).toBe(true);
      expect(await refused(s().providers.insert(newProvider(org.id, t, { issuer: p.issuer })))).toBe(true);
      const other = await newOrg(s(), t);
      await s().providers.insert({ ...p, orgId: other.id });
      expect(await s().providers.list(org.id)).toEqual([p]);
      expect(await s().providers.byIssuer(other.id, p.issuer)).toEqual({ ...p, orgId: other.id });
    });
  });

  describe(`${name} store: retention`, () => {
    test('purge removes what ended or was written before each cutoff, keeps the rest, and counts each kind', async () => {
      const t = span();
      await s().retention.purge(cutoffsAt(t));
      const cut = t + 1000;
      const org = await newOrg(s(), t);
      const user = async (ref: string, createdAt: number) => s().users.insert({ orgId: org.id, userRef: ref, userId: ref, userEmail: null, createdAt });

      const expired = await insertToken(s(), org.id, 'ended', t + 1, { expiresAt: cut - 1 });
      const revokedBefore = await insertToken(s(), org.id, 'keeper', t + 1, { expiresAt: t + HOUR });
      await s().tokens.revoke(revokedBefore.id, 'test', cut - 1);
      const revokedAfter = await insertToken(s(), org.id, 'keeper', t + 1, { expiresAt: t + HOUR });
      await s().tokens.revoke(revokedAfter.id, 'test', cut);
      const expiresAtCut = await insertToken(s(), org.id, 'keeper', t + 1, { expiresAt: cut });
      const live = await insertToken(s(), org.id, 'keeper', t + 1, { expiresAt: t + HOUR });
      await user('ended', t + 1); // its only token ends before the cutoff: both go
      await user('lonely', t + 2); // no token, created before: goes
      await user('keeper', t + 3); // has tokens left: stays
      await user('newcomer', cut); // created at the cutoff: stays
      await s().audit.record({ event: 'auth.failed', orgId: org.id }, cut - 1);
      await s().audit.record({ event: 'auth.failed', orgId: org.id }, cut);
      await s().changes.append('org.changed', org.id, 'old', cut - 2);
      await s().changes.append('org.changed', org.id, 'old', cut - 1);
      await s().changes.append('org.changed', org.id, 'new', cut);
      await s().history.appendBatch([
        { orgId: org.id, topic: 'h', payload: Buffer.from('old'), qos: 0, at: cut - 1 },
        { orgId: org.id, topic: 'h', payload: Buffer.from('new'), qos: 0, at: cut },
      ]);
      // Every row before this test's span went above; the newest change row of an earlier test may remain, and goes now.
      const leftoverChanges = (await s().changes.since(0)).filter((c) => c.at < t).length;

      expect(await s().retention.purge(cutoffsAt(cut))).toEqual({ tokens: 2, users: 2, audit: 1, changes: 2 + leftoverChanges, history: 1 });
      for (const gone of [expired, revokedBefore]) {
        expect(await s().tokens.get(gone.id)).toBeUndefined();
        expect(await s().tokens.byPasswordHash(gone.passwordHash)).toBeUndefined();
      }
      for (const kept of [revokedAfter, expiresAtCut, live]) expect((await s().tokens.byPasswordHash(kept.passwordHash))?.id).toBe(kept.id);
      expect(await s().users.byRef(org.id, 'ended')).toBeUndefined();
      expect(await s().users.byRef(org.id, 'lonely')).toBeUndefined();
      expect(await s().users.byRef(org.id, 'keeper')).toBeDefined();
      expect(await s().users.byRef(org.id, 'newcomer')).toBeDefined();
      expect((await s().audit.query({ orgId: org.id })).map((e) => e.at)).toEqual([cut]);
      expect((await s().changes.since(0)).map((c) => c.ref)).toEqual(['new']);
      expect((await s().history.read(org.id, 'h', 10)).map((m) => m.payload.toString())).toEqual(['new']);
    });

    test('purge keeps the newest change row however old (a broker starting later reads its position from it)', async () => {
      const t = span();
      await s().retention.purge(cutoffsAt(t));
      await s().changes.append('org.changed', newOrgId(), 'a', t + 1);
      await s().changes.append('org.changed', newOrgId(), 'b', t + 2);
      const last = await s().changes.lastSeq();
      const counts = await s().retention.purge(cutoffsAt(t + SPAN - 1));
      expect(counts.changes).toBeGreaterThanOrEqual(1);
      expect((await s().changes.since(0)).map((c) => c.ref)).toEqual(['b']);
      expect(await s().changes.lastSeq()).toBe(last);
      expect((await s().retention.purge(cutoffsAt(t + SPAN - 1))).changes).toBe(0);
    });

    test('a null audit cutoff keeps the audit for ever', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      await s().audit.record({ event: 'org.created', orgId: org.id }, t + 1);
      expect((await s().retention.purge({ ...cutoffsAt(t + 1000), auditBefore: null })).audit).toBe(0);
      expect(await s().audit.query({ orgId: org.id })).toHaveLength(1);
    });
  });

  describe(`${name} store: what a CONNECT is decided on`, () => {
    /** An org with a default rule set and an integration on another set, a user, and a token naming the integration. */
    const connectable = async (t: number) => {
      const org = await newOrg(s(), t);
      const defaultRules = rules({ publish: ['#'], subscribe: ['#'], presence: true, history: true, denyPublish: [], denySubscribe: ['$sys/#'] });
      const bridgeRules = rules({ publish: ['bridge/#'], subscribe: [], presence: false, history: false, denyPublish: ['bridge/x'], denySubscribe: [] });
      await s().ruleSets.insert({ id: randomUUID(), orgId: org.id, name: 'default', isDefault: true, ...defaultRules }, t);
      const bridgeSet = randomUUID();
      await s().ruleSets.insert({ id: bridgeSet, orgId: org.id, name: 'bridge', isDefault: false, ...bridgeRules }, t);
      await s().integrations.insert({ orgId: org.id, id: 'bridge', ruleSetId: bridgeSet, description: null }, t);
      const user = { orgId: org.id, userRef: alnum(12), userId: 'alice', userEmail: 'alice@example.com', createdAt: t + 1 };
      await s().users.insert(user);
      return { org, defaultRules, bridgeRules, user };
    };

    test('the record joins the token, its user, its organisation, the default rules and its integration\'s rules', async () => {
      const t = span();
      const { org, defaultRules, bridgeRules, user } = await connectable(t);
      const tok = await insertToken(s(), org.id, user.userRef, t + 2, { integrationId: 'bridge', scopes: [{ publish: ['x'], subscribe: null, presence: null, history: null }] });
      expect(await s().connectRecords.byPasswordHash(tok.passwordHash)).toEqual({
        token: await s().tokens.get(tok.id),
        user,
        org: await s().orgs.get(org.id),
        defaultRules,
        integrationRules: bridgeRules,
      });
    });

    test('a token without an integration has no integration rules (undefined)', async () => {
      const t = span();
      const { org, defaultRules, user } = await connectable(t);
      const tok = await insertToken(s(), org.id, user.userRef, t + 2);
      const r = await s().connectRecords.byPasswordHash(tok.passwordHash);
      expect(r?.token.id).toBe(tok.id);
      expect(r?.defaultRules).toEqual(defaultRules);
      expect(r?.integrationRules).toBeUndefined();
    });

    test('a token naming an integration that is gone, or never was, has null integration rules', async () => {
      const t = span();
      const { org, user } = await connectable(t);
      const deleted = await insertToken(s(), org.id, user.userRef, t + 2, { integrationId: 'bridge' });
      await s().integrations.delete(org.id, 'bridge');
      const never = await insertToken(s(), org.id, user.userRef, t + 2, { integrationId: 'never-was' });
      expect((await s().connectRecords.byPasswordHash(deleted.passwordHash))?.integrationRules).toBeNull();
      expect((await s().connectRecords.byPasswordHash(never.passwordHash))?.integrationRules).toBeNull();
    });

    test('an organisation without a default rule set gives undefined default rules; a missing user gives an undefined user', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const tok = await insertToken(s(), org.id, 'no-such-user', t);
      const r = await s().connectRecords.byPasswordHash(tok.passwordHash);
      expect(r?.token.id).toBe(tok.id);
      expect(r?.org).toEqual(await s().orgs.get(org.id));
      expect(r?.user).toBeUndefined();
      expect(r?.defaultRules).toBeUndefined();
      expect(r?.integrationRules).toBeUndefined();
    });

    test('the record carries every one of the organisation\'s limits, as they are now', async () => {
      const t = span();
      const { org, user } = await connectable(t);
      const tok = await insertToken(s(), org.id, user.userRef, t + 2);
      const limits = Object.fromEntries(ORG_LIMITS.map((l, i) => [l.key, 10 + i])) as unknown as OrgLimits;
      const current = (await s().orgs.get(org.id))!;
      await s().orgs.update({ ...current, limits });
      expect((await s().connectRecords.byPasswordHash(tok.passwordHash))?.org?.limits).toEqual(limits);
      await s().orgs.update({ ...current, limits: { ...limits, maxConnectsPerSecond: null, maxHistoryBytes: 6_000_000_000 } });
      expect((await s().connectRecords.byPasswordHash(tok.passwordHash))?.org?.limits).toEqual({ ...limits, maxConnectsPerSecond: null, maxHistoryBytes: 6_000_000_000 });
    });

    test('an earlier kept password finds the same record; an unknown one, or a token whose organisation was deleted, none', async () => {
      const t = span();
      const { org, user } = await connectable(t);
      const tok = await insertToken(s(), org.id, user.userRef, t + 2);
      const next = newHash();
      await s().tokens.rotate(tok.id, tok.passwordHash, next, t + 2 * HOUR, t + 3);
      const byOld = await s().connectRecords.byPasswordHash(tok.passwordHash);
      expect(byOld?.token).toMatchObject({ id: tok.id, passwordHash: next, refreshedAt: t + 3 });
      expect(await s().connectRecords.byPasswordHash(next)).toEqual(byOld);
      expect(await s().connectRecords.byPasswordHash(newHash())).toBeUndefined();
      await s().tokens.revoke(tok.id, 'test', t + 4);
      expect((await s().connectRecords.byPasswordHash(next))?.token).toMatchObject({ revokedAt: t + 4, revokeReason: 'test' });
      await s().orgs.delete(org.id);
      expect(await s().connectRecords.byPasswordHash(next)).toBeUndefined();
    });
  });

  describe(`${name} store: transactions`, () => {
    test('a transaction resolves with its body\'s value once committed; the body sees its own writes', async () => {
      const t = span();
      const id = newOrgId();
      const seen = await s().transaction(async (tx) => {
        await tx.orgs.insert(id, randomUUID(), 'In tx', t);
        await tx.settings.set(`tx-${id}`, 'v');
        return { org: (await tx.orgs.get(id))?.name, setting: await tx.settings.get(`tx-${id}`) };
      });
      expect(seen).toEqual({ org: 'In tx', setting: 'v' });
      expect((await s().orgs.get(id))?.name).toBe('In tx');
      expect(await s().settings.get(`tx-${id}`)).toBe('v');
    });

    test('what a body wrote is not seen outside before its commit', async () => {
      const t = span();
      const id = newOrgId();
      const hold = deferred();
      const inserted = deferred();
      let bodyDone = false;
      const tx = s().transaction(async (x) => {
        await x.orgs.insert(id, randomUUID(), 'Pending', t);
        inserted.release();
        await hold.promise;
        bodyDone = true;
      });
      await inserted.promise;
      const outside = s().orgs.get(id).then((org) => ({ org, whileOpen: !bodyDone }));
      await settle();
      hold.release();
      await tx;
      const read = await outside;
      // Answered while the body was still running (PostgreSQL answers at once), it must not show the
      // row; SQLite answers only after the commit (store.sqlite.test.ts says exactly when).
      if (read.whileOpen) expect(read.org).toBeUndefined();
      else expect([undefined, 'Pending']).toContain(read.org?.name);
      expect((await s().orgs.get(id))?.name).toBe('Pending');
    });

    test('a body that throws rejects with its error and undoes all its writes; transactions begun with it commit', async () => {
      const t = span();
      const [a, b, c] = [newOrgId(), newOrgId(), newOrgId()];
      const boom = new Error('boom');
      const results = await Promise.allSettled([
        s().transaction(async (tx) => {
          await tx.orgs.insert(a, randomUUID(), 'A', t);
          return 'a';
        }),
        s().transaction(async (tx) => {
          await tx.orgs.insert(b, randomUUID(), 'B', t);
          await tx.settings.set(`tx-${b}`, 'B');
          await tx.changes.append('org.changed', b, null, t);
          await tx.audit.record({ event: 'org.created', orgId: b }, t);
          throw boom;
        }),
        s().transaction(async (tx) => {
          await tx.orgs.insert(c, randomUUID(), 'C', t);
          return 'c';
        }),
      ]);
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value : r.reason))).toEqual(['a', boom, 'c']);
      expect((results[1] as PromiseRejectedResult).reason).toBe(boom);
      expect((await s().orgs.get(a))?.name).toBe('A');
      expect((await s().orgs.get(c))?.name).toBe('C');
      expect(await s().orgs.get(b)).toBeUndefined();
      expect(await s().settings.get(`tx-${b}`)).toBeUndefined();
      expect(await s().audit.query({ orgId: b })).toEqual([]);
      expect((await s().changes.since(0)).filter((x) => x.orgId === b)).toEqual([]);
    });

    test('a write refused inside a body (a unique violation) rejects the transaction and undoes the body\'s earlier writes', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const key = unique('before-violation');
      expect(await refused(s().transaction(async (tx) => {
        await tx.settings.set(key, 'written first');
        await tx.orgs.insert(org.id, randomUUID(), 'Duplicate', t);
      }))).toBe(true);
      expect(await s().settings.get(key)).toBeUndefined();
      // And the store carries on.
      await s().transaction((tx) => tx.settings.set(key, 'later'));
      expect(await s().settings.get(key)).toBe('later');
    });

    test('many transactions begun in one event-loop turn all commit, each resolving with its own value', async () => {
      const t = span();
      const ids = Array.from({ length: 50 }, () => newOrgId());
      const values = await Promise.all(ids.map((id, i) => s().transaction(async (tx) => {
        await tx.orgs.insert(id, randomUUID(), `Org ${i}`, t + i);
        return i;
      })));
      expect(values).toEqual(ids.map((_, i) => i));
      for (const [i, id] of ids.entries()) expect((await s().orgs.get(id))?.name).toBe(`Org ${i}`);
    });

    test('concurrent read-modify-write transactions on one row all commit and lose no update', async () => {
      const key = unique('counter');
      await s().settings.set(key, '0');
      await Promise.all(Array.from({ length: 30 }, () => s().transaction(async (tx) => {
        const n = Number(await tx.settings.get(key));
        await tx.settings.set(key, String(n + 1));
      })));
      expect(await s().settings.get(key)).toBe('30');
    });

    test('a burst of mint-shaped transactions for different users of one organisation all commit', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const made = await Promise.all(Array.from({ length: 60 }, (_, i) => s().transaction(async (tx) => {
        const userId = `user-${i}`;
        let user = await tx.users.byId(org.id, userId);
        if (!user) {
          user = { orgId: org.id, userRef: alnum(12), userId, userEmail: null, createdAt: t + i };
          await tx.users.insert(user);
        }
        await tx.tokens.liveOfUser(org.id, user.userRef, t + i);
        const tok = await insertToken(tx, org.id, user.userRef, t + i);
        await tx.audit.record({ event: 'token.minted', orgId: org.id, userId, userRef: user.userRef, tokenId: tok.id }, t + i);
        return tok.id;
      })));
      expect(new Set(made).size).toBe(60);
      expect(await s().tokens.listOfOrg(org.id, true, t)).toHaveLength(60);
    });

    test('concurrent get-or-create transactions of one user all commit, and make it once', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const refs = await Promise.all(Array.from({ length: 10 }, (_, i) => s().transaction(async (tx) => {
        const found = await tx.users.byId(org.id, 'same');
        if (found) return found.userRef;
        const userRef = alnum(12);
        await tx.users.insert({ orgId: org.id, userRef, userId: 'same', userEmail: null, createdAt: t + i });
        return userRef;
      })));
      expect(new Set(refs).size).toBe(1);
      expect((await s().users.byId(org.id, 'same'))?.userRef).toBe(refs[0]);
    });

    test('history, usage and retention writes made in a body commit with it, and roll back with it', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const message = (topic: string) => ({ orgId: org.id, topic, payload: Buffer.from(topic), qos: 1, at: t + 1 });
      await s().transaction(async (tx) => {
        await tx.history.appendBatch([message('kept')]);
        await tx.usage.record([{ orgId: org.id, brokerId: 'b', at: t + 1, intervalMs: 1, connections: 1, messages: 1 }], t + 1);
        await tx.retention.purge({ ...cutoffsAt(0), auditBefore: null });
      });
      await expect(s().transaction(async (tx) => {
        await tx.history.appendBatch([message('undone')]);
        await tx.usage.record([{ orgId: org.id, brokerId: 'b', at: t + 2, intervalMs: 1, connections: 1, messages: 1 }], t + 2);
        throw new Error('undo');
      })).rejects.toThrow('undo');
      expect(await s().history.hasTopic(org.id, 'kept')).toBe(true);
      expect(await s().history.hasTopic(org.id, 'undone')).toBe(false);
      expect((await s().usage.since(org.id, t)).map((u) => u.at)).toEqual([t + 1]);
    });
  });

  describe(`${name} store: values round-trip exactly`, () => {
    test('epoch milliseconds far above 2^31 come back as the same numbers, never strings', async () => {
      const t = span();
      const far = 8_640_000_000_000_000; // the last instant a Date can hold
      const org = await newOrg(s(), t);
      const tok = await insertToken(s(), org.id, 'u', t + 1, { expiresAt: far });
      await s().tokens.touch(tok.id, t + 2);
      await s().sessions.upsert(newSession(org.id, t + 3, { expiresAt: far }));
      await s().audit.record({ event: 'token.minted', orgId: org.id, expiresAt: far }, t + 4);
      const keyId = randomUUID();
      await s().apiKeys.insert({ id: keyId, orgId: org.id, prefix: 'sk_big', hash: newHash(), name: null, createdAt: t + 5, expiresAt: far });
      const from = await s().changes.lastSeq();
      await s().changes.append('org.changed', org.id, null, t + 6);

      const numbers = [
        (await s().orgs.get(org.id))!.createdAt,
        (await s().tokens.get(tok.id))!.issuedAt, (await s().tokens.get(tok.id))!.expiresAt, (await s().tokens.get(tok.id))!.lastUsedAt,
        (await s().sessions.list(org.id))[0]!.connectedAt, (await s().sessions.list(org.id))[0]!.expiresAt,
        (await s().audit.query({ orgId: org.id }))[0]!.at, (await s().audit.query({ orgId: org.id }))[0]!.expiresAt,
        (await s().apiKeys.get(keyId))!.createdAt, (await s().apiKeys.get(keyId))!.expiresAt,
        (await s().changes.since(from))[0]!.at,
      ];
      expect(numbers).toEqual([t, t + 1, far, t + 2, t + 3, far, t + 4, far, t + 5, far, t + 6]);
      for (const n of numbers) expect(typeof n).toBe('number');
    });

    test('counts and sequence numbers are numbers', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      await s().changes.append('org.changed', org.id, null, t);
      await s().history.appendBatch([{ orgId: org.id, topic: 'n', payload: Buffer.alloc(3), qos: 0, at: t }]);
      await s().sessions.upsert(newSession(org.id, t, { userRef: 'n' }));
      const values = [
        await s().changes.lastSeq(), (await s().history.usage(org.id)).topics, (await s().history.usage(org.id)).bytes,
        await s().sessions.countOfUser(org.id, 'n'), await s().integrations.countUsingRuleSet(org.id, 'none'), (await s().history.read(org.id, 'n', 1))[0]!.id,
        (await s().history.read(org.id, 'n', 1))[0]!.qos, await s().tokens.purgeExpired(0),
      ];
      for (const v of values) expect(typeof v).toBe('number');
    });

    test('flags are booleans, lists are arrays, absent values are null (not undefined)', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      const on = randomUUID();
      const off = randomUUID();
      await s().ruleSets.insert({ id: on, orgId: org.id, name: 'on', isDefault: true, ...rules({ presence: true, history: true }) }, t);
      await s().ruleSets.insert({ id: off, orgId: org.id, name: 'off', isDefault: false, ...rules({ presence: false, history: false, publish: [], subscribe: ['a b/ü/☃', 'quote"d', 'back\\slash'] }) }, t);
      const [a, b] = [(await s().ruleSets.get(org.id, on))!, (await s().ruleSets.get(org.id, off))!];
      expect([a.isDefault, a.presence, a.history, b.isDefault, b.presence, b.history]).toStrictEqual([true, true, true, false, false, false]);
      expect(b.publish).toStrictEqual([]);
      expect(b.subscribe).toStrictEqual(['a b/ü/☃', 'quote"d', 'back\\slash']);
      const tok = await insertToken(s(), org.id, 'u', t);
      const got = (await s().tokens.get(tok.id))!;
      for (const k of ['integrationId', 'provider', 'apiKeyId', 'refreshedAt', 'lastUsedAt', 'revokedAt', 'revokeReason'] as const) expect(got[k]).toBeNull();
      expect(got.scopes).toStrictEqual([]);
    });
  });

  describe(`${name} store: listing order follows code points, not the server's locale`, () => {
    // SQLite compares text bytewise (BINARY): upper case before lower case, '_' between them.
    const names = ['beta', 'Alpha', 'alpha', '_under', 'Zulu', '9lives', 'élan'];
    const bytewise = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

    test('rule sets, integrations and providers are listed bytewise by name or id', async () => {
      const t = span();
      const org = await newOrg(s(), t);
      for (const n of names) await s().ruleSets.insert({ id: randomUUID(), orgId: org.id, name: n, isDefault: false, ...rules() }, t);
      const setId = (await s().ruleSets.getByName(org.id, 'beta'))!.id;
      for (const n of names) await s().integrations.insert({ orgId: org.id, id: n, ruleSetId: setId, description: null }, t);
      for (const n of names) await s().providers.insert(newProvider(org.id, t, { name: n }));
      expect((await s().ruleSets.list(org.id)).map((r) => r.name)).toEqual(bytewise);
      expect((await s().integrations.list(org.id)).map((i) => i.id)).toEqual(bytewise);
      expect((await s().providers.list(org.id)).map((p) => p.name)).toEqual(bytewise);
    });
  });
}
