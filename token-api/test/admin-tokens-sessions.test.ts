// Operator views of tokens, sessions (kick) and the audit trail.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ADMIN_KEY, call, startApi, type Json, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let key: string;

beforeAll(async () => {
  t = await startApi('admin-tokens');
  ({ org: { id: orgId }, secretKey: key } = await t.services.orgs.create('Ops Co'));
});
afterAll(async () => t.stop());

const base = () => `${t.url}/v2/admin/orgs/${orgId}`;
const mint = async (body: Json) => (await call(`${t.url}/v2/tokens`, { key, body, headers: { 'User-Agent': 'audit-test/1.0' } })).body;

describe('tokens', () => {
  test('list (filter by user, live), revoke one, revoke all of a user', async () => {
    const a1 = await mint({ user_id: 'ann' });
    const a2 = await mint({ user_id: 'ann' });
    const b1 = await mint({ user_id: 'ben' });
    const list = await call(`${base()}/tokens?user=ann`, { key: ADMIN_KEY });
    expect(list.body.tokens.map((x: Json) => x.token_id).sort()).toEqual([a1.token_id, a2.token_id].sort());
    const one = await call(`${base()}/tokens/${b1.token_id}/revoke`, { method: 'POST', key: ADMIN_KEY });
    expect(one.body.status).toBe('revoked');
    const all = await call(`${base()}/users/ann/revoke-tokens`, { method: 'POST', key: ADMIN_KEY });
    expect(all.body.revoked.sort()).toEqual([a1.token_id, a2.token_id].sort());
    expect((await call(`${base()}/tokens?live=true`, { key: ADMIN_KEY })).body.tokens).toEqual([]);
    expect(await t.services.connect.checkConnect(a1.username, a1.password)).toMatchObject({ ok: false, reason: 'revoked' });
    expect((await call(`${base()}/users/nobody/revoke-tokens`, { method: 'POST', key: ADMIN_KEY })).status).toBe(404);
  });
});

describe('sessions', () => {
  test('lists the sessions table; kick appends a session.kick change for the client id', async () => {
    const tok = await mint({ user_id: 'kicked' });
    const record = (await t.services.store.tokens.get(tok.token_id))!;
    await t.services.store.sessions.upsert({ brokerId: 'b1', orgId, clientId: 'client/with/slashes', userRef: record.userRef, tokenId: record.id,
      address: '10.0.0.1', protocol: 'ws', connectedAt: Date.now(), expiresAt: record.expiresAt });
    const list = await call(`${base()}/sessions`, { key });
    expect(list.body.sessions).toEqual([expect.objectContaining({ client_id: 'client/with/slashes', user_id: 'kicked', protocol: 'ws' })]);
    const seq = await t.services.store.changes.lastSeq();
    const kick = await call(`${base()}/sessions/${encodeURIComponent('client/with/slashes')}/kick`, { method: 'POST', key });
    expect(kick.status).toBe(200);
    expect(await t.services.store.changes.since(seq)).toEqual([expect.objectContaining({ kind: 'session.kick', orgId, ref: 'client/with/slashes' })]);
    expect((await call(`${base()}/sessions/absent/kick`, { method: 'POST', key })).status).toBe(404);
  });
});

describe('audit', () => {
  test('mint, refresh and revoke leave rows with ip and user agent, never a password', async () => {
    const tok = await mint({ user_id: 'audited' });
    const refreshed = (await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: tok.token_id, current_token_password: tok.password }, headers: { 'User-Agent': 'audit-test/1.0' } })).body;
    await call(`${t.url}/v2/tokens/${tok.token_id}`, { method: 'DELETE', key, headers: { 'User-Agent': 'audit-test/1.0' } });
    const res = await call(`${base()}/audit?user=audited`, { key: ADMIN_KEY });
    expect(res.status).toBe(200);
    const events = res.body.entries.map((e: Json) => e.event);
    expect(events).toEqual(['token.revoked', 'token.refreshed', 'token.minted']);
    for (const e of res.body.entries) {
      expect(e).toMatchObject({ token_id: tok.token_id, ip: expect.stringMatching(/127\.0\.0\.1/), user_agent: 'audit-test/1.0', organization_id: orgId });
    }
    const minted = res.body.entries.find((e: Json) => e.event === 'token.minted');
    expect(typeof minted.expires_at).toBe('string');
    const everything = JSON.stringify([...await t.services.store.audit.all({ orgId: null, before: null })]);
    expect(everything).not.toContain(tok.password);
    expect(everything).not.toContain(refreshed.password);
    expect(everything).not.toContain(key);
  });

  test('filter by event and page with before_id', async () => {
    for (let i = 0; i < 3; i++) await mint({ user_id: `pager${i}` });
    const first = await call(`${base()}/audit?event=token.minted&limit=2`, { key });
    expect(first.body.entries).toHaveLength(2);
    expect(first.body.entries.every((e: Json) => e.event === 'token.minted')).toBe(true);
    const next = await call(`${base()}/audit?event=token.minted&limit=2&before_id=${first.body.next_before_id}`, { key });
    expect(next.body.entries[0].id).toBeLessThan(first.body.entries[1].id);
    const ids = [...first.body.entries, ...next.body.entries].map((e: Json) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('a failed key attempt leaves an auth.failed row (operator-wide audit), without the key', async () => {
    const guess = `sk_${'g'.repeat(43)}`;
    await call(`${t.url}/v2/tokens`, { key: guess, body: { user_id: 'x' } });
    const res = await call(`${t.url}/v2/admin/audit?event=auth.failed`, { key: ADMIN_KEY });
    expect(res.body.entries.length).toBeGreaterThan(0);
    expect(JSON.stringify(res.body)).not.toContain(guess);
  });
});
