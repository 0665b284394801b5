// Organisations, API keys and the token lifecycle against a real SQLite file, driven at chosen
// instants through an injected clock (no sleeping, no timing in assertions); two processes on one
// data dir; the promise that no secret ever reaches the audit table.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DB_FILE_NAME, DEFAULT_REPLACE_GRACE_SECONDS, loadConfig, openServices, SignalGateError, type Services } from '@signalgate/shared';

let now = Date.UTC(2026, 2, 27, 13, 0, 0);
const clock = () => now;
let s: Services;
/** Services opened by a test on a data dir of its own (the real clock), as another process would. */
const opened: Services[] = [];

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-services-'));
const openOn = async (dir: string): Promise<Services> => {
  const services = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: dir }));
  opened.push(services);
  return services;
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  s = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: tempDir() }), clock);
});
afterAll(async () => {
  await s?.store.close();
  for (const o of opened) await o.store.close();
});

const newOrg = async (name = 'Org') => s.orgs.create(name);
/** The code of the SignalGateError `fn` fails with; undefined (failing a `toBe(code)`) when it succeeds. */
const codeOf = async (fn: () => Promise<unknown>): Promise<string | undefined> => {
  try {
    await fn();
  } catch (err) {
    if (err instanceof SignalGateError) return err.code;
    throw err;
  }
  return undefined;
};

describe('organisations', () => {
  test('a new organisation gets an allow-all default rule set and a working sk_ key', async () => {
    const { org, secretKey, key } = await newOrg('Acme');
    expect(org.id).toMatch(/^org_[a-z0-9]{12}$/);
    const spaces = ['#', '$notifications/#', '$spaces/#']; // CloudSignal's packages live in $ spaces
    expect(await s.rules.getDefault(org.id)).toMatchObject({ isDefault: true, publish: spaces, subscribe: spaces, presence: true, history: true });
    expect(secretKey).toMatch(/^sk_[A-Za-z0-9_-]{43}$/);
    expect((await s.keys.verify(secretKey)).id).toBe(key.id);
    expect(key.hash).not.toContain(secretKey);
    expect(secretKey.startsWith(key.prefix)).toBe(true);
  });

  test('names are trimmed and must be 1-200 characters', async () => {
    expect((await newOrg('  Padded  ')).org.name).toBe('Padded');
    await expect(s.orgs.create(' ')).rejects.toMatchObject({ code: 'invalid_request', field: 'name' });
    await expect(s.orgs.create('x'.repeat(201))).rejects.toMatchObject({ code: 'invalid_request' });
  });

  test('TTL settings must stay ordered min ≤ default ≤ max ≤ 7 days', async () => {
    const { org } = await newOrg();
    expect(await codeOf(async () => s.orgs.update(org.id, { minTtlSeconds: 0 }))).toBe('invalid_request');
    expect(await codeOf(async () => s.orgs.update(org.id, { maxTtlSeconds: 8 * 86_400 }))).toBe('invalid_request');
    expect(await codeOf(async () => s.orgs.update(org.id, { minTtlSeconds: 7200, maxTtlSeconds: 3600 }))).toBe('invalid_request');
    expect(await codeOf(async () => s.orgs.update(org.id, { defaultTtlSeconds: 30 }))).toBe('invalid_request');
    expect(await codeOf(async () => s.orgs.update(org.id, { limits: { maxConnections: 0 } }))).toBe('invalid_request');
    expect(await s.orgs.update(org.id, { defaultTtlSeconds: 900, limits: { maxConnections: 5 } })).toMatchObject({ defaultTtlSeconds: 900, limits: { maxConnections: 5 } });
  });

  test('max_connects_per_second is unlimited by default, set and removed like the other limits', async () => {
    const { org } = await newOrg();
    expect(org.limits.maxConnectsPerSecond).toBeNull();
    expect((await s.orgs.update(org.id, { limits: { maxConnectsPerSecond: 20, maxConnections: 100 } })).limits)
      .toMatchObject({ maxConnectsPerSecond: 20, maxConnections: 100 });
    expect((await s.orgs.get(org.id)).limits.maxConnectsPerSecond).toBe(20);
    expect((await s.orgs.update(org.id, { limits: { maxConnections: null } })).limits).toMatchObject({ maxConnectsPerSecond: 20, maxConnections: null });
    expect((await s.orgs.update(org.id, { limits: { maxConnectsPerSecond: null } })).limits.maxConnectsPerSecond).toBeNull();
    expect((await s.orgs.get(org.id)).limits.maxConnectsPerSecond).toBeNull();
  });

  test('max_connects_per_second must be a positive integer: 0, negatives and fractions are refused and change nothing', async () => {
    const { org } = await newOrg();
    await s.orgs.update(org.id, { limits: { maxConnectsPerSecond: 5 } });
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      let refused: unknown;
      try {
        await s.orgs.update(org.id, { limits: { maxConnectsPerSecond: bad } });
      } catch (err) {
        refused = err;
      }
      expect(refused).toMatchObject({ code: 'invalid_request', field: 'maxConnectsPerSecond' });
    }
    expect((await s.orgs.get(org.id)).limits.maxConnectsPerSecond).toBe(5);
  });
});

describe('secret API keys', () => {
  test('malformed, unknown or foreign-prefix secrets are refused with invalid_api_key', async () => {
    for (const bad of [undefined, '', 'sk_short', 'pk_' + 'a'.repeat(43), 'sk_' + 'a'.repeat(43), 42]) {
      await expect(s.keys.verify(bad)).rejects.toMatchObject({ code: 'invalid_api_key', status: 401 });
    }
  });

  test('a verified key verifies again from the cache and records when it was last used', async () => {
    const { org, secretKey, key } = await newOrg();
    expect((await s.keys.get(org.id, key.id)).lastUsedAt).toBeNull();
    await s.keys.verify(secretKey);
    await s.keys.verify(secretKey);
    const first = now;
    expect((await s.keys.get(org.id, key.id)).lastUsedAt).toBe(first);
    // Kept to the minute: a use 59 s later leaves it, one a minute later moves it.
    now += 59_000;
    await s.keys.verify(secretKey);
    expect((await s.keys.get(org.id, key.id)).lastUsedAt).toBe(first);
    now += 2_000;
    await s.keys.verify(secretKey);
    expect((await s.keys.get(org.id, key.id)).lastUsedAt).toBe(now);
  });

  test('a revoked key stops at once, even after it was cached', async () => {
    const { org, secretKey, key } = await newOrg();
    await s.keys.verify(secretKey);
    await s.keys.revoke(org.id, key.id);
    await expect(s.keys.verify(secretKey)).rejects.toMatchObject({ code: 'invalid_api_key' });
  });

  test('rotation with overlap 0 ends the old key now and issues a working successor', async () => {
    const { org, secretKey, key } = await newOrg();
    await s.keys.verify(secretKey);
    const rotated = await s.keys.rotate(org.id, key.id, 0);
    await expect(s.keys.verify(secretKey)).rejects.toMatchObject({ code: 'invalid_api_key' });
    expect((await s.keys.verify(rotated.secretKey)).id).toBe(rotated.key.id);
    expect(rotated.previous.replacedBy).toBe(rotated.key.id);
  });

  test('rotation with an overlap keeps the old key valid until then, and not a moment after', async () => {
    const { org, secretKey, key } = await newOrg();
    const rotated = await s.keys.rotate(org.id, key.id, 600);
    expect(rotated.previous.expiresAt).toBe(now + 600_000);
    const start = now;
    try {
      now = start + 599_000;
      expect((await s.keys.verify(secretKey)).id).toBe(key.id);
      now = start + 600_000;
      await expect(s.keys.verify(secretKey)).rejects.toMatchObject({ code: 'invalid_api_key' });
      expect((await s.keys.verify(rotated.secretKey)).id).toBe(rotated.key.id);
    } finally {
      now = start;
    }
  });

  test('a revoked key cannot be rotated; keys of another org cannot be touched', async () => {
    const a = await newOrg();
    const b = await newOrg();
    await s.keys.revoke(a.org.id, a.key.id);
    await expect(s.keys.rotate(a.org.id, a.key.id, 0)).rejects.toMatchObject({ code: 'conflict' });
    expect(await codeOf(async () => s.keys.revoke(a.org.id, b.key.id))).toBe('api_key_not_found');
    expect((await s.keys.verify(b.secretKey)).id).toBe(b.key.id);
  });
});

describe('two connections on one data dir (API and broker in different processes)', () => {
  test('a key revoked through another connection is refused even while cached as verified', async () => {
    const dir = tempDir();
    const api = await openOn(dir);
    const admin = await openOn(dir);
    const { org, secretKey, key } = await api.orgs.create('Cache');
    await api.keys.verify(secretKey); // now cached in `api`; its change feed is not followed, so the row is read again
    await admin.keys.revoke(org.id, key.id);
    await expect(api.keys.verify(secretKey)).rejects.toMatchObject({ code: 'invalid_api_key' });
  });

  test('with the change feed followed, the cache is trusted and a revoke through another connection is refused within a poll', async () => {
    const dir = tempDir();
    const api = await openOn(dir);
    const admin = await openOn(dir);
    const warnings: string[] = [];
    await api.changes.start(50, (_err, message) => warnings.push(message));
    try {
      const { org, secretKey, key } = await api.orgs.create('Followed cache');
      await api.keys.verify(secretKey);
      await admin.keys.revoke(org.id, key.id);
      // Bounded: the 50 ms poll finds the revoke; 2 s leaves room for a loaded machine.
      const deadline = Date.now() + 2000;
      let refusal: unknown;
      while (refusal === undefined && Date.now() < deadline) {
        refusal = await api.keys.verify(secretKey).then(() => undefined, (err: unknown) => err);
        if (refusal === undefined) await sleep(10);
      }
      expect(refusal).toMatchObject({ code: 'invalid_api_key' });
      expect(warnings).toEqual([]);
    } finally {
      api.changes.stop();
    }
  });
});

describe('tokens: mint', () => {
  test('TTL defaults to the org default and must lie within the org bounds', async () => {
    const { org } = await newOrg();
    const t = await s.tokens.mint({ orgId: org.id, userId: 'u' });
    expect(t.ttlSeconds).toBe(3600);
    expect(t.expiresAt).toBe(now + 3_600_000);
    expect(t.refreshRecommendedAt).toBe(now + 3_240_000);
    await s.orgs.update(org.id, { minTtlSeconds: 300, maxTtlSeconds: 900, defaultTtlSeconds: 600 });
    expect((await s.tokens.mint({ orgId: org.id, userId: 'u' })).ttlSeconds).toBe(600);
    expect((await s.tokens.mint({ orgId: org.id, userId: 'u', ttlSeconds: 300 })).ttlSeconds).toBe(300);
    expect((await s.tokens.mint({ orgId: org.id, userId: 'u', ttlSeconds: 900 })).ttlSeconds).toBe(900);
    expect(await codeOf(async () => s.tokens.mint({ orgId: org.id, userId: 'u', ttlSeconds: 299 }))).toBe('invalid_request');
    expect(await codeOf(async () => s.tokens.mint({ orgId: org.id, userId: 'u', ttlSeconds: 901 }))).toBe('invalid_request');
    expect(await codeOf(async () => s.tokens.mint({ orgId: org.id, userId: 'u', ttlSeconds: 400.5 }))).toBe('invalid_request');
  });

  test('the username is <user_ref>@<org_id>, stable per user', async () => {
    const { org } = await newOrg();
    const a = await s.tokens.mint({ orgId: org.id, userId: 'alice' });
    const b = await s.tokens.mint({ orgId: org.id, userId: 'alice' });
    expect(a.username).toBe(`${a.userRef}@${org.id}`);
    expect(b.username).toBe(a.username);
    expect(a.password).not.toBe(b.password);
    const byEmail = await s.tokens.mint({ orgId: org.id, userEmail: 'e@example.com' });
    expect(byEmail.userId).toBe(byEmail.userRef); // seed 000: email only
  });

  test('bad user ids and emails are refused', async () => {
    const { org } = await newOrg();
    for (const userId of ['', 'a/b', 'a+b', 'a#', '$sys', 'x'.repeat(257)]) {
      expect(await codeOf(async () => s.tokens.mint({ orgId: org.id, userId }))).toBe('invalid_request');
    }
    expect(await codeOf(async () => s.tokens.mint({ orgId: org.id, userEmail: 'not-an-email' }))).toBe('invalid_request');
    expect(await codeOf(async () => s.tokens.mint({ orgId: org.id }))).toBe('invalid_request');
    expect(await codeOf(async () => s.tokens.mint({ orgId: 'org_000000000000', userId: 'u' }))).toBe('organization_not_found');
  });

  test('scopes beyond the org default are a 403, never a wider token', async () => {
    const { org } = await newOrg();
    await s.rules.setDefault(org.id, { publish: ['chat/#'], subscribe: ['chat/#'], presence: false, history: true });
    expect(await codeOf(async () => s.tokens.mint({ orgId: org.id, userId: 'u', permissions: ['publish'], topics: ['news/#'] }))).toBe('scope_exceeds_organization');
    expect(await codeOf(async () => s.tokens.mint({ orgId: org.id, userId: 'u', permissions: ['presence'] }))).toBe('scope_exceeds_organization');
    expect(await codeOf(async () => s.tokens.mint({ orgId: org.id, userId: 'u', acl: { subscribe: ['#'] } }))).toBe('scope_exceeds_organization');
    expect(await codeOf(async () => s.tokens.mint({ orgId: org.id, userId: 'u', topics: ['a/#/b'] }))).toBe('invalid_request');
    const ok = await s.tokens.mint({ orgId: org.id, userId: 'u', acl: { publish: ['chat/u/out'], subscribe: ['chat/+/in'] } });
    expect(await s.connect.layersOf(await s.tokens.get(org.id, ok.tokenId))).toMatchObject([
      { publish: ['chat/#'], subscribe: ['chat/#'], presence: false, history: true },
      { publish: ['chat/u/out'], subscribe: ['chat/+/in'], presence: null, history: null },
    ]);
  });

  test('an unknown integration is a 404 at mint; a deleted one leaves a layer that grants nothing', async () => {
    const { org } = await newOrg();
    expect(await codeOf(async () => s.tokens.mint({ orgId: org.id, userId: 'u', integrationId: 'nope' }))).toBe('integration_not_found');
    await s.rules.create(org.id, 'narrow', { publish: ['a'], subscribe: ['a'], presence: false, history: false });
    await s.integrations.create(org.id, 'app', 'narrow');
    const t = await s.tokens.mint({ orgId: org.id, userId: 'u', integrationId: 'app' });
    const connectLayers = async () => {
      const v = await s.connect.checkConnect(t.username, t.password, 'cid');
      if (!v.ok) throw new Error(v.reason);
      return v.rights.layers;
    };
    // CONNECT reads the rule sets in its own statement: it must agree with rightsOf.
    expect(await connectLayers()).toEqual((await s.connect.rightsOf(await s.tokens.get(org.id, t.tokenId), { userId: 'u', userEmail: null }, 'cid')).layers);
    expect((await connectLayers())[1]).toMatchObject({ publish: ['a'], subscribe: ['a'] });
    await s.integrations.delete(org.id, 'app');
    expect((await s.connect.layersOf(await s.tokens.get(org.id, t.tokenId)))[1]).toEqual({ publish: [], subscribe: [], presence: false, history: false });
    expect((await connectLayers())[1]).toEqual({ publish: [], subscribe: [], presence: false, history: false });
  });

  test('replace_existing revokes the user\'s other idle tokens only (no session, untouched for the grace)', async () => {
    const { org } = await newOrg();
    const a1 = await s.tokens.mint({ orgId: org.id, userId: 'a' });
    const a2 = await s.tokens.mint({ orgId: org.id, userId: 'a' });
    const b = await s.tokens.mint({ orgId: org.id, userId: 'b' });
    const start = now;
    now += DEFAULT_REPLACE_GRACE_SECONDS * 1000 - 1;
    const inGrace = await s.tokens.mint({ orgId: org.id, userId: 'a', replaceExisting: true });
    expect(inGrace.replacedTokenIds).toEqual([]);
    now = start + DEFAULT_REPLACE_GRACE_SECONDS * 1000 + 1;
    const seq = await s.store.changes.lastSeq();
    const a3 = await s.tokens.mint({ orgId: org.id, userId: 'a', replaceExisting: true });
    expect(a3.replacedTokenIds.sort()).toEqual([a1.tokenId, a2.tokenId].sort());
    expect(await s.connect.checkConnect(a1.username, a1.password)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await s.connect.checkConnect(a3.username, a3.password)).toMatchObject({ ok: true });
    expect(await s.connect.checkConnect(b.username, b.password)).toMatchObject({ ok: true });
    expect((await s.store.changes.since(seq)).map((c) => c.ref).sort()).toEqual([a1.tokenId, a2.tokenId].sort());
    expect((await s.tokens.get(org.id, a1.tokenId)).revokeReason).toBe('replaced');
    expect(await s.connect.checkConnect(inGrace.username, inGrace.password)).toMatchObject({ ok: true });
  });

  test('replace_existing spares a token whose session ended within the grace, and one in a live session', async () => {
    const { org } = await newOrg();
    const used = await s.tokens.mint({ orgId: org.id, userId: 'tabs' });
    const connected = await s.tokens.mint({ orgId: org.id, userId: 'tabs' });
    await s.store.sessions.upsert({ brokerId: 'b1', orgId: org.id, clientId: 'tab-2', userRef: connected.userRef, tokenId: connected.tokenId,
      address: null, protocol: 'mqtt5', connectedAt: now, expiresAt: connected.expiresAt });
    now += 10 * DEFAULT_REPLACE_GRACE_SECONDS * 1000;
    await s.store.tokens.touch(used.tokenId, now - 1000);
    const fresh = await s.tokens.mint({ orgId: org.id, userId: 'tabs', replaceExisting: true });
    expect(fresh.replacedTokenIds).toEqual([]);
    now += DEFAULT_REPLACE_GRACE_SECONDS * 1000 + 1;
    const later = await s.tokens.mint({ orgId: org.id, userId: 'tabs', replaceExisting: true });
    expect(later.replacedTokenIds.sort()).toEqual([used.tokenId, fresh.tokenId].sort());
  });
});

describe('tokens: CONNECT check (CONNACK 4 vs 5)', () => {
  test('unknown, malformed or mismatched credentials get 4', async () => {
    const { org } = await newOrg();
    const other = await newOrg();
    const t = await s.tokens.mint({ orgId: org.id, userId: 'u' });
    const v = await s.tokens.mint({ orgId: org.id, userId: 'v' });
    const cases: [string | undefined, string | Buffer | undefined][] = [
      [undefined, t.password],
      ['no-at-sign', t.password],
      [`${t.userRef}@org_bad`, t.password],
      [t.username, undefined],
      [t.username, 'tkn_' + 'A'.repeat(43)], // well-formed, wrong
      [t.username, 'password'],
      [t.username, v.password], // another user's password
      [v.username, t.password],
      [`${t.userRef}@${other.org.id}`, t.password], // right password, wrong org
    ];
    for (const [username, password] of cases) {
      expect(await s.connect.checkConnect(username, password)).toMatchObject({ ok: false, reason: expect.stringMatching(/^(malformed_username|bad_credentials)$/) });
    }
    expect(await s.connect.checkConnect(t.username, Buffer.from(t.password))).toMatchObject({ ok: true, user: { userId: 'u' }, org: { id: org.id } });
  });

  test('a real credential that expired or was revoked gets 5', async () => {
    const { org } = await newOrg();
    const t = await s.tokens.mint({ orgId: org.id, userId: 'u', ttlSeconds: 600 });
    const start = now;
    try {
      now = start + 599_999;
      expect(await s.connect.checkConnect(t.username, t.password)).toMatchObject({ ok: true });
      now = start + 600_000;
      expect(await s.connect.checkConnect(t.username, t.password)).toEqual({ ok: false, reason: 'expired' });
    } finally {
      now = start;
    }
    await s.tokens.revoke(org.id, t.tokenId);
    expect(await s.connect.checkConnect(t.username, t.password)).toEqual({ ok: false, reason: 'revoked' });
  });
});

describe('tokens: refresh and revoke', () => {
  test('refresh rotates the password, extends by the TTL and feeds the change log; the old password keeps connecting', async () => {
    const { org } = await newOrg();
    const t = await s.tokens.mint({ orgId: org.id, userId: 'u', ttlSeconds: 1200 });
    const start = now;
    try {
      now = start + 1_000_000;
      const seq = await s.store.changes.lastSeq();
      const r = await s.tokens.refresh(t.tokenId, t.password);
      expect(r.tokenId).toBe(t.tokenId);
      expect(r.username).toBe(t.username);
      expect(r.password).not.toBe(t.password);
      expect(r.expiresAt).toBe(now + 1_200_000);
      expect(r.ttlSeconds).toBe(1200);
      // Refresh continuity: mqtt.js reconnects with the first password.
      expect(await s.connect.checkConnect(t.username, t.password)).toMatchObject({ ok: true, token: { id: t.tokenId, expiresAt: r.expiresAt } });
      expect(await s.connect.checkConnect(r.username, r.password)).toMatchObject({ ok: true });
      expect(await s.store.changes.since(seq)).toEqual([expect.objectContaining({ kind: 'token.refreshed', orgId: org.id, ref: t.tokenId })]);
      // a second refresh extends by the same TTL again
      now += 100_000;
      expect((await s.tokens.refresh(t.tokenId, r.password)).expiresAt).toBe(now + 1_200_000);
    } finally {
      now = start;
    }
  });

  test('refresh refuses a wrong password, an expired and a revoked token, and audits each failure', async () => {
    const { org } = await newOrg();
    const t = await s.tokens.mint({ orgId: org.id, userId: 'u', ttlSeconds: 600 });
    expect(await codeOf(async () => s.tokens.refresh(t.tokenId, 'tkn_' + 'B'.repeat(43)))).toBe('invalid_token_password');
    expect(await codeOf(async () => s.tokens.refresh('00000000-0000-4000-8000-000000000000', t.password))).toBe('token_not_found');
    const start = now;
    try {
      now = start + 600_000;
      expect(await codeOf(async () => s.tokens.refresh(t.tokenId, t.password))).toBe('token_expired');
    } finally {
      now = start;
    }
    await s.tokens.revoke(org.id, t.tokenId);
    expect(await codeOf(async () => s.tokens.refresh(t.tokenId, t.password))).toBe('token_revoked');
    const failures = (await s.store.audit.query({ orgId: org.id, event: 'token.refresh_failed' })).map((e) => e.detail?.reason);
    expect(failures).toEqual(['token_revoked', 'token_expired', 'invalid_token_password']);
  });

  test('refresh never takes a token past its organisation\'s absolute lifetime; at its end it refreshes no more (issue 14, item 6)', async () => {
    const { org } = await newOrg();
    await s.orgs.update(org.id, { maxTtlSeconds: 3600, maxTokenLifetimeSeconds: 7200 });
    expect(await codeOf(async () => s.orgs.update(org.id, { maxTokenLifetimeSeconds: 3599 }))).toBe('invalid_request');
    expect((await s.orgs.get(org.id)).maxTokenLifetimeSeconds).toBe(7200);
    const t = await s.tokens.mint({ orgId: org.id, userId: 'u', ttlSeconds: 3600 });
    const start = now;
    try {
      now = start + 3000_000;
      const r1 = await s.tokens.refresh(t.tokenId, t.password);
      expect(r1.expiresAt).toBe(now + 3600_000);
      now = start + 6000_000;
      const r2 = await s.tokens.refresh(t.tokenId, r1.password);
      expect(r2.expiresAt).toBe(start + 7200_000); // capped: not now + 3600 s
      now = start + 7200_000;
      expect(await codeOf(async () => s.tokens.refresh(t.tokenId, r2.password))).toBe('token_expired');
      expect((await s.connect.checkConnect(t.username, r2.password)).ok).toBe(false);
    } finally {
      now = start;
    }
    expect((await newOrg()).org.maxTokenLifetimeSeconds).toBe(7 * 86_400);
  });

  test('revoking an API key revokes the live tokens it minted, unless they are kept (issue 14, item 6)', async () => {
    const { org } = await newOrg();
    const second = await s.keys.create(org.id, 'second');
    const mine = await s.tokens.mint({ orgId: org.id, userId: 'a' }, { apiKeyId: second.key.id });
    const other = await s.tokens.mint({ orgId: org.id, userId: 'b' });
    expect((await s.store.tokens.get(mine.tokenId))!.apiKeyId).toBe(second.key.id);
    await s.keys.revoke(org.id, second.key.id);
    expect(await s.tokens.revokeMintedBy(org.id, second.key.id)).toEqual([mine.tokenId]);
    expect(await s.connect.checkConnect(mine.username, mine.password)).toMatchObject({ ok: false, reason: 'revoked' });
    expect((await s.connect.checkConnect(other.username, other.password)).ok).toBe(true);
    expect((await s.store.tokens.get(mine.tokenId))!.revokeReason).toBe('key_revoked');
  });

  test('revoke is scoped to the org, idempotent, and appended to the change feed once', async () => {
    const { org } = await newOrg();
    const other = await newOrg();
    const t = await s.tokens.mint({ orgId: org.id, userId: 'u' });
    expect(await codeOf(async () => s.tokens.revoke(other.org.id, t.tokenId))).toBe('token_not_found');
    const seq = await s.store.changes.lastSeq();
    const first = await s.tokens.revoke(org.id, t.tokenId);
    const again = await s.tokens.revoke(org.id, t.tokenId);
    expect(again.revokedAt).toBe(first.revokedAt);
    expect(await s.store.changes.since(seq)).toEqual([expect.objectContaining({ kind: 'token.revoked', ref: t.tokenId })]);
  });

  test('token lists: by org, by user (id, email or ref), live only', async () => {
    const { org } = await newOrg();
    const a = await s.tokens.mint({ orgId: org.id, userId: 'a', userEmail: 'a@example.com' });
    const b = await s.tokens.mint({ orgId: org.id, userId: 'b' });
    await s.tokens.revoke(org.id, b.tokenId);
    expect((await s.tokens.list(org.id)).map((t) => t.id).sort()).toEqual([a.tokenId, b.tokenId].sort());
    expect((await s.tokens.list(org.id, { liveOnly: true })).map((t) => t.id)).toEqual([a.tokenId]);
    for (const key of ['a', 'a@example.com', a.userRef]) expect((await s.tokens.list(org.id, { user: key })).map((t) => t.id)).toEqual([a.tokenId]);
    expect(await s.tokens.list(org.id, { user: 'b', liveOnly: true })).toEqual([]);
  });
});

describe('rule edits reach the change feed', () => {
  test('updating a rule set, the default, and deleting an integration each append rules.changed; org updates append org.changed', async () => {
    const { org } = await newOrg();
    const seq = await s.store.changes.lastSeq();
    await s.rules.create(org.id, 'rs', { publish: ['a'], subscribe: ['a'], presence: false, history: false });
    await s.rules.update(org.id, 'rs', { publish: ['b'], subscribe: ['b'], presence: false, history: false });
    await s.rules.setDefault(org.id, { publish: ['x/#'], subscribe: ['x/#'], presence: true, history: false });
    await s.integrations.create(org.id, 'i1', 'rs');
    await s.integrations.delete(org.id, 'i1');
    await s.orgs.update(org.id, { defaultTtlSeconds: 1800 });
    expect((await s.store.changes.since(seq)).map((c) => [c.kind, c.orgId])).toEqual([
      ['rules.changed', org.id],
      ['rules.changed', org.id],
      ['rules.changed', org.id],
      ['org.changed', org.id],
    ]);
  });

  test('invalid rules are refused with the filter named', async () => {
    const { org } = await newOrg();
    await expect(s.rules.create(org.id, 'bad', { publish: ['ok', 'a+'], subscribe: [], presence: false, history: false })).rejects.toThrow(/publish\[1\]: 'a\+'/);
    await expect(s.rules.setDefault(org.id, { publish: ['$SYS/#'], subscribe: [], presence: false, history: false })).rejects.toThrow(/reserved/);
    await expect(s.rules.create(org.id, 'big', { publish: Array.from({ length: 257 }, (_, i) => `t${i}`), subscribe: [], presence: false, history: false })).rejects.toThrow(/at most 256/);
  });
});

describe('retention (issue 14, item 6)', () => {
  test('purges ended tokens and users left without one after SIGNALGATE_RETENTION_DAYS, audit after its own days, old history and change rows', async () => {
    const { org } = await newOrg('Retention');
    const DAY = 86_400_000;
    const start = now;
    try {
      const gone = await s.tokens.mint({ orgId: org.id, userId: 'gone', ttlSeconds: 600 });
      const revoked = await s.tokens.mint({ orgId: org.id, userId: 'revoked-user', ttlSeconds: 600 });
      await s.tokens.revoke(org.id, revoked.tokenId);
      await s.store.history.appendBatch([{ orgId: org.id, topic: 'h/old', payload: Buffer.from('old'), qos: 0, at: now }]);
      now = start + 31 * DAY;
      const stays = await s.tokens.mint({ orgId: org.id, userId: 'stays', ttlSeconds: 600 });
      await s.store.history.appendBatch([{ orgId: org.id, topic: 'h/new', payload: Buffer.from('new'), qos: 0, at: now }]);
      const auditBefore = (await s.store.audit.query({ orgId: org.id, limit: 1000 })).length;
      const counts = await s.retention.purge();
      expect(counts.tokens).toBeGreaterThanOrEqual(2);
      expect(await s.store.tokens.get(gone.tokenId)).toBeUndefined();
      expect(await s.store.tokens.get(revoked.tokenId)).toBeUndefined();
      expect(await s.store.tokens.get(stays.tokenId)).toBeDefined();
      expect(await s.tokens.findUser(org.id, 'gone')).toBeUndefined();
      expect(await s.tokens.findUser(org.id, 'stays')).toBeDefined();
      expect(await s.store.history.read(org.id, 'h/old', 10)).toEqual([]);
      expect(await s.store.history.read(org.id, 'h/new', 10)).toHaveLength(1);
      // the audit trail is kept for SIGNALGATE_AUDIT_RETENTION_DAYS (365 by default)
      expect((await s.store.audit.query({ orgId: org.id, limit: 1000 })).length).toBe(auditBefore);
      now = start + 366 * DAY;
      await s.retention.purge();
      expect((await s.store.audit.query({ orgId: org.id, limit: 1000 })).filter((e) => e.at < start + DAY)).toEqual([]);
      // the newest change row always stays: a broker starting later reads its position from it
      expect(await s.store.changes.lastSeq()).toBeGreaterThan(0);
    } finally {
      now = start;
    }
  });
});

describe('the audit trail never holds a secret', () => {
  test('no column of any audit row contains a password, an sk_ key or their hashes', async () => {
    const dir = tempDir();
    const s = await openOn(dir);
    const secrets: string[] = [];
    const { org, secretKey, key } = await s.orgs.create('Audit');
    secrets.push(secretKey);
    const second = await s.keys.create(org.id, 'second');
    secrets.push(second.secretKey);
    const rotated = await s.keys.rotate(org.id, key.id, 0);
    secrets.push(rotated.secretKey);

    const t = await s.tokens.mint({ orgId: org.id, userEmail: 'a@example.com' }, { ip: '198.51.100.4', userAgent: 'agent/1' });
    secrets.push(t.password);
    const r = await s.tokens.refresh(t.tokenId, t.password, { ip: '198.51.100.4' });
    secrets.push(r.password);
    await expect(s.tokens.refresh(t.tokenId, t.password)).rejects.toThrow(); // old password: a refresh_failed row
    const t2 = await s.tokens.mint({ orgId: org.id, userId: 'x', replaceExisting: true });
    secrets.push(t2.password);
    await s.tokens.revoke(org.id, t2.tokenId);

    // Every column as stored, read from the file (the store's API answers mapped entries).
    const db = new Database(path.join(dir, DB_FILE_NAME), { readonly: true });
    let hashes: string[];
    let rows: Record<string, unknown>[];
    try {
      hashes = db.prepare('SELECT password_hash FROM tokens UNION ALL SELECT hash FROM api_keys').pluck().all() as string[];
      rows = db.prepare('SELECT * FROM audit').all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
    expect(rows.length).toBeGreaterThanOrEqual(9);
    const events = new Set(rows.map((r) => r.event));
    for (const e of ['org.created', 'key.created', 'key.rotated', 'token.minted', 'token.refreshed', 'token.refresh_failed', 'token.revoked']) expect(events).toContain(e);
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (value === null || typeof value === 'number') continue;
        const text = String(value);
        for (const secret of [...secrets, ...hashes]) {
          if (text.includes(secret)) throw new Error(`audit.${column} of a ${String(row.event)} row holds a secret`);
        }
        expect(text).not.toMatch(/tkn_[A-Za-z0-9_-]{20}/);
        expect(text).not.toMatch(/sk_[A-Za-z0-9_-]{20}/);
      }
    }
  });
});
