// The `signalgate` CLI, run as a separate process over a temp data dir. Each behaviour is checked
// by its effect on the data dir (read back through the shared services, like another process would).
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { loadConfig, openServices, type Services } from '@signalgate/shared';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { buildCli, runCli, runJson, startCli, tempDataDir } from './support.js';

// Each test runs a dozen CLI processes one after another (0.6-0.9 s each on an idle machine): under
// the full run's load (two store projects, three workers on two cores) one test took over the
// default 20 s twice in five runs, with every command succeeding.
jest.setTimeout(60_000);

interface OrgCreated { organization_id: string; secret_key: string; key_id: string; key_prefix: string }
interface Items<T = Record<string, unknown>> { items: T[] }

const dataDir = tempDataDir('main');
let services: Services;

beforeAll(async () => {
  buildCli();
  // Opened before the CLI creates the schema too: either side may come first.
  services = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_KEY_CACHE_SECONDS: '0' }));
}, 180_000);

afterAll(async () => {
  await services?.store.close();
});

const cli = (args: string[]) => runCli(dataDir, args);
const json = <T = Record<string, unknown>>(args: string[]) => runJson<T>(dataDir, args);
const createOrg = (name: string) => json<OrgCreated>(['org', 'create', '--name', name]);

describe('signalgate audit export and purge (issue 14, item 6)', () => {
  test('audit export writes every record of an org as JSON lines, oldest first; purge reports what it removed', async () => {
    const { organization_id: org } = await createOrg('Exported');
    await services.tokens.mint({ orgId: org, userId: 'exported-user' });
    const r = await cli(['audit', 'export', '--org', org]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.event)).toEqual(expect.arrayContaining(['org.created', 'token.minted']));
    expect(lines.every((l) => l.organization_id === org)).toBe(true);
    const ids = lines.map((l) => Number(l.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect((await cli(['audit', 'export', '--before', 'yesterday-ish'])).code).not.toBe(0);
    const purged = await json(['purge']);
    expect(purged).toMatchObject({ tokens: 0, users: 0, audit: 0, retentionDays: 30, auditRetentionDays: 365, historyRetentionDays: 7 });
  });
});

describe('signalgate org', () => {
  test('org create --json prints exactly one JSON object with the organization id and a working secret key', async () => {
    const r = await cli(['org', 'create', '--name', 'Acme', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const body = JSON.parse(r.stdout) as OrgCreated;
    expect(body.organization_id).toMatch(/^org_[a-z0-9]{12}$/);
    expect(body.secret_key).toMatch(/^sk_[A-Za-z0-9_-]{43}$/);
    const key = await services.keys.verify(body.secret_key);
    expect(key.orgId).toBe(body.organization_id);
  });

  test('the new organisation starts with an allow-all default rule set', async () => {
    const { organization_id: org } = await createOrg('Defaults');
    const { items } = await json<Items<{ name: string; is_default: boolean; publish: string[]; subscribe: string[]; presence: boolean; history: boolean }>>(['ruleset', 'list', '--org', org]);
    const spaces = ['#', '$notifications/#', '$spaces/#'];
    expect(items).toEqual([expect.objectContaining({ name: 'default', is_default: true, publish: spaces, subscribe: spaces, presence: true, history: true })]);
  });

  test('org list shows created organisations, as JSON and as a table', async () => {
    const { organization_id: org } = await createOrg('Listed Inc');
    const { items } = await json<Items<{ organization_id: string; name: string }>>(['org', 'list']);
    expect(items).toContainEqual(expect.objectContaining({ organization_id: org, name: 'Listed Inc' }));
    const human = await cli(['org', 'list']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ORGANIZATION_ID\s+NAME/);
    expect(human.stdout).toContain(org);
  });

  test('a blank name is refused with exit 1 and the reason on stderr, nothing on stdout', async () => {
    const r = await cli(['org', 'create', '--name', '   ', '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/name: must be 1-200 characters/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('a missing required option is a usage error (exit 2)', async () => {
    const r = await cli(['org', 'create']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option '--name <name>' not specified/);
  });

  test('org update sets TTL bounds and limits; "none" removes a limit', async () => {
    const { organization_id: org } = await createOrg('Limits');
    const updated = await json(['org', 'update', '--org', org, '--default-ttl', '600', '--min-ttl', '120', '--max-ttl', '7200',
      '--max-connections', '10', '--max-messages-per-second', '50', '--max-bytes-per-second', '5000', '--max-payload-bytes', '2048',
      '--token-messages-per-second', '5', '--max-connects-per-second', '20']);
    expect(updated).toMatchObject({ organization_id: org, default_ttl_seconds: 600, min_ttl_seconds: 120, max_ttl_seconds: 7200,
      max_connections: 10, max_messages_per_second: 50, max_bytes_per_second: 5000, max_payload_bytes: 2048, token_messages_per_second: 5,
      max_connects_per_second: 20 });
    expect(await services.orgs.get(org)).toMatchObject({ defaultTtlSeconds: 600, minTtlSeconds: 120, maxTtlSeconds: 7200,
      limits: { maxConnections: 10, maxConnectsPerSecond: 20 } });
    await json(['org', 'update', '--org', org, '--max-connections', 'none']);
    expect((await services.orgs.get(org)).limits).toMatchObject({ maxConnections: null, maxMessagesPerSecond: 50, maxConnectsPerSecond: 20 });
    expect(await json(['org', 'update', '--org', org, '--max-connects-per-second', 'none'])).toMatchObject({ max_connects_per_second: null });
    expect((await services.orgs.get(org)).limits).toMatchObject({ maxConnectsPerSecond: null, maxMessagesPerSecond: 50 });
    // Quotas come with defaults and take the same forms.
    expect(await json(['org', 'update', '--org', org, '--max-retained-messages', '25', '--max-subscriptions-per-connection', 'none']))
      .toMatchObject({ max_retained_messages: 25, max_subscriptions_per_connection: null, max_retained_bytes: 64 * 1024 * 1024 });
    // the org's TTL bounds now apply to mints
    await expect(services.tokens.mint({ orgId: org, userId: 'u1', ttlSeconds: 60 })).rejects.toThrow(/120-7200/);
  });

  test('org update refuses a default TTL outside the bounds (exit 1) and a non-number (exit 2)', async () => {
    const { organization_id: org } = await createOrg('Bad TTL');
    const outside = await cli(['org', 'update', '--org', org, '--default-ttl', '30']);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toMatch(/default_ttl_seconds/);
    const nan = await cli(['org', 'update', '--org', org, '--max-connections', 'lots']);
    expect(nan.code).toBe(2);
    expect(nan.stderr).toMatch(/--max-connections/);
  });

  test('org update refuses a connect rate that is not a positive whole number (exit 2, nothing changed)', async () => {
    const { organization_id: org } = await createOrg('Bad connect rate');
    for (const bad of ['0', '-1', '1.5', 'lots']) {
      const r = await cli(['org', 'update', '--org', org, '--max-connects-per-second', bad]);
      expect([bad, r.code]).toEqual([bad, 2]);
      expect(r.stderr).toMatch(/--max-connects-per-second/);
    }
    expect((await services.orgs.get(org)).limits.maxConnectsPerSecond).toBeNull();
  });

  test('--org takes the UUID as well as the short id, for every noun', async () => {
    const { organization_id: org } = await createOrg('Uuid Everywhere');
    const uuid = (await services.orgs.get(org)).uuid;
    await services.tokens.mint({ orgId: org, userId: 'uuid-user' });
    const byId = await json<Items>(['token', 'list', '--org', org]);
    expect(byId.items).toHaveLength(1);
    expect(await json<Items>(['token', 'list', '--org', uuid])).toEqual(byId);
    expect((await json<Items>(['key', 'list', '--org', uuid])).items).toHaveLength(1);
    expect((await json<Items>(['audit', 'list', '--org', uuid])).items.length).toBeGreaterThan(0);
    expect((await cli(['ruleset', 'create', '--org', uuid, '--name', 'by-uuid', '--publish', 'a/#'])).code).toBe(0);
    expect((await services.rules.get(org, 'by-uuid')).publish).toEqual(['a/#']);
    expect((await cli(['token', 'revoke', '--org', uuid, '--user', 'uuid-user'])).code).toBe(0);
    expect(await services.tokens.list(org, { liveOnly: true })).toEqual([]);
  });

  test('an unknown organisation is reported as not found (exit 1)', async () => {
    const r = await cli(['org', 'update', '--org', 'org_doesnotexist', '--default-ttl', '600']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/organization org_doesnotexist not found/);
  });

  test('org set-default-rules replaces the default rule set; left-out options keep their value', async () => {
    const { organization_id: org } = await createOrg('Rules');
    const before = await services.store.changes.lastSeq();
    const rs = await json(['org', 'set-default-rules', '--org', org, '--publish', 'chat/#', 'users/${user_id}/#', '--subscribe', 'chat/#', '--no-history']);
    expect(rs).toMatchObject({ is_default: true, publish: ['chat/#', 'users/${user_id}/#'], subscribe: ['chat/#'], presence: true, history: false });
    expect(await services.rules.getDefault(org)).toMatchObject({ publish: ['chat/#', 'users/${user_id}/#'], subscribe: ['chat/#'], presence: true, history: false });
    // brokers in other processes learn of it from the change feed
    expect(await services.store.changes.since(before)).toContainEqual(expect.objectContaining({ kind: 'rules.changed', orgId: org }));

    await json(['org', 'set-default-rules', '--org', org, '--subscribe', 'news/+', '--no-presence']);
    expect(await services.rules.getDefault(org)).toMatchObject({ publish: ['chat/#', 'users/${user_id}/#'], subscribe: ['news/+'], presence: false, history: false });

    // and the narrowed default now caps what a token may ask for
    await expect(services.tokens.mint({ orgId: org, userId: 'u1', acl: { publish: ['alerts/x'], subscribe: [] } })).rejects.toThrow(/alerts\/x/);
  });

  test('deny filters: --deny-publish/--deny-subscribe on set-default-rules and ruleset create; left out, they are kept', async () => {
    const { organization_id: org } = await createOrg('Deny Rules');
    const set = await json<{ deny_publish: string[]; deny_subscribe: string[] }>(['org', 'set-default-rules', '--org', org, '--deny-publish', 'admin/#', '--deny-subscribe', 'admin/#', 'ops/+/secrets']);
    expect(set).toMatchObject({ deny_publish: ['admin/#'], deny_subscribe: ['admin/#', 'ops/+/secrets'] });
    await json(['org', 'set-default-rules', '--org', org, '--publish', 'chat/#']);
    expect(await services.rules.getDefault(org)).toMatchObject({ publish: ['chat/#'], denyPublish: ['admin/#'], denySubscribe: ['admin/#', 'ops/+/secrets'] });
    const created = await json<{ deny_publish: string[] }>(['ruleset', 'create', '--org', org, '--name', 'no-admin', '--publish', '#', '--deny-publish', 'admin/#']);
    expect(created.deny_publish).toEqual(['admin/#']);
    const bad = await cli(['ruleset', 'create', '--org', org, '--name', 'bad-deny', '--publish', '#', '--deny-subscribe', '$SYS/#']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/deny_subscribe\[0\]/);
  });

  test('org set-default-rules refuses an invalid filter, naming it (exit 1, nothing changed)', async () => {
    const { organization_id: org } = await createOrg('Bad rules');
    const r = await cli(['org', 'set-default-rules', '--org', org, '--publish', 'a/#/b']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("'a/#/b'");
    expect((await services.rules.getDefault(org)).publish).toEqual(['#', '$notifications/#', '$spaces/#']);
  });
});

describe('signalgate key', () => {
  test('key list shows the public prefix of the first key, never the secret', async () => {
    const created = await createOrg('Keys');
    const r = await cli(['key', 'list', '--org', created.organization_id, '--json']);
    const { items } = JSON.parse(r.stdout) as Items<{ key_id: string; prefix: string; status: string }>;
    expect(items).toHaveLength(1);
    expect(items[0]!.key_id).toBe(created.key_id);
    expect(items[0]!.status).toBe('active');
    expect(created.secret_key.startsWith(items[0]!.prefix)).toBe(true);
    expect(items[0]!.prefix.length).toBeLessThan(created.secret_key.length);
    expect(r.stdout).not.toContain(created.secret_key);
    const human = await cli(['key', 'list', '--org', created.organization_id]);
    expect(human.stdout).toContain(items[0]!.prefix);
    expect(human.stdout).not.toContain(created.secret_key);
  });

  test('key create issues another working key; revoke stops it at once', async () => {
    const { organization_id: org } = await createOrg('Keys 2');
    const made = await json<{ key_id: string; secret_key: string }>(['key', 'create', '--org', org, '--name', 'backend']);
    expect((await services.keys.verify(made.secret_key)).id).toBe(made.key_id);
    expect((await json<Items>(['key', 'list', '--org', org])).items).toHaveLength(2);

    const revoked = await json<{ status: string; revoked_at: string }>(['key', 'revoke', '--org', org, '--key', made.key_id]);
    expect(revoked.status).toBe('revoked');
    expect(revoked.revoked_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    await expect(services.keys.verify(made.secret_key)).rejects.toMatchObject({ code: 'invalid_api_key' });
  });

  test('key rotate with --overlap-seconds 0 replaces the key at once', async () => {
    const created = await createOrg('Rotate now');
    const rotated = await json<{ key_id: string; secret_key: string; previous_key_id: string }>(
      ['key', 'rotate', '--org', created.organization_id, '--key', created.key_id, '--overlap-seconds', '0']);
    expect(rotated.previous_key_id).toBe(created.key_id);
    expect(rotated.key_id).not.toBe(created.key_id);
    expect((await services.keys.verify(rotated.secret_key)).id).toBe(rotated.key_id);
    await expect(services.keys.verify(created.secret_key)).rejects.toMatchObject({ code: 'invalid_api_key' });
  });

  test('key rotate with an overlap keeps the old key working until the stated time', async () => {
    const created = await createOrg('Rotate later');
    const startedAt = Date.now();
    const rotated = await json<{ secret_key: string; previous_key_valid_until: string }>(
      ['key', 'rotate', '--org', created.organization_id, '--key', created.key_id, '--overlap-seconds', '3600']);
    const until = Date.parse(rotated.previous_key_valid_until);
    expect(until).toBeGreaterThanOrEqual(startedAt + 3600_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect((await services.keys.verify(created.secret_key)).id).toBe(created.key_id);
    expect((await services.keys.verify(rotated.secret_key)).orgId).toBe(created.organization_id);
  });

  test('revoking a key of another organisation or an unknown key fails (exit 1)', async () => {
    const a = await createOrg('Key owner');
    const b = await createOrg('Key thief');
    const r = await cli(['key', 'revoke', '--org', b.organization_id, '--key', a.key_id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/api_key_not_found/);
    expect((await services.keys.verify(a.secret_key)).id).toBe(a.key_id);
  });

  test('a negative overlap is a usage error (exit 2)', async () => {
    const a = await createOrg('Neg overlap');
    const r = await cli(['key', 'rotate', '--org', a.organization_id, '--key', a.key_id, '--overlap-seconds', '-5']);
    expect(r.code).toBe(2);
  });
});

describe('signalgate ruleset and integration', () => {
  test('a rule set with several filters per action (repeated or listed) is stored and listed', async () => {
    const { organization_id: org } = await createOrg('RS');
    const rs = await json(['ruleset', 'create', '--org', org, '--name', 'support',
      '--publish', 'support/${user_id}/out', '--publish', 'typing/+', '--subscribe', 'support/${user_id}/#', 'broadcast', '--presence']);
    expect(rs).toMatchObject({ name: 'support', is_default: false, publish: ['support/${user_id}/out', 'typing/+'],
      subscribe: ['support/${user_id}/#', 'broadcast'], presence: true, history: false });
    const { items } = await json<Items<{ name: string }>>(['ruleset', 'list', '--org', org]);
    expect(items.map((i) => i.name)).toEqual(['default', 'support']);
  });

  test('an unknown placeholder or a $ topic is refused with the reason (exit 1)', async () => {
    const { organization_id: org } = await createOrg('RS bad');
    const unknown = await cli(['ruleset', 'create', '--org', org, '--name', 'x', '--publish', 'a/${tenant}']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown placeholder \$\{tenant\}/);
    const reserved = await cli(['ruleset', 'create', '--org', org, '--name', 'y', '--subscribe', '$SYS/#']);
    expect(reserved.code).toBe(1);
    expect(reserved.stderr).toMatch(/reserved/);
    expect(await services.rules.list(org)).toHaveLength(1);
  });

  test('an integration binds tokens to its rule set; in-use rule sets and the default cannot be deleted', async () => {
    const { organization_id: org } = await createOrg('Integrations');
    await json(['ruleset', 'create', '--org', org, '--name', 'widget', '--publish', 'widget/${user_id}', '--subscribe', 'widget/#']);
    const integ = await json(['integration', 'create', '--org', org, '--id', 'web-widget', '--ruleset', 'widget', '--description', 'site chat']);
    expect(integ).toMatchObject({ integration_id: 'web-widget', rule_set_name: 'widget', description: 'site chat' });
    expect((await json<Items<{ integration_id: string }>>(['integration', 'list', '--org', org])).items.map((i) => i.integration_id)).toEqual(['web-widget']);

    // minting with the integration gets its rule set as a layer
    const issued = await services.tokens.mint({ orgId: org, userId: 'alice', integrationId: 'web-widget' });
    const layers = await services.connect.layersOf(await services.tokens.get(org, issued.tokenId));
    expect(layers[1]).toMatchObject({ publish: ['widget/${user_id}'], subscribe: ['widget/#'] });
    await expect(services.tokens.mint({ orgId: org, userId: 'alice', integrationId: 'web-widget', acl: { publish: ['other'] } })).rejects.toThrow(/integration 'web-widget'/);

    const inUse = await cli(['ruleset', 'delete', '--org', org, '--name', 'widget']);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/bound to 1 integration/);
    const dflt = await cli(['ruleset', 'delete', '--org', org, '--name', 'default']);
    expect(dflt.code).toBe(1);
    expect(dflt.stderr).toMatch(/default rule set cannot be deleted/);

    const before = await services.store.changes.lastSeq();
    expect(await json(['integration', 'delete', '--org', org, '--id', 'web-widget'])).toMatchObject({ deleted: true, integration_id: 'web-widget' });
    expect(await services.store.changes.since(before)).toContainEqual(expect.objectContaining({ kind: 'rules.changed', orgId: org }));
    expect((await json<Items>(['integration', 'list', '--org', org])).items).toEqual([]);
    expect(await json(['ruleset', 'delete', '--org', org, '--name', 'widget'])).toMatchObject({ deleted: true, name: 'widget' });
    expect((await services.rules.list(org)).map((r) => r.name)).toEqual(['default']);
  });

  test('integration create with an unknown rule set, a duplicate id or a bad id fails (exit 1)', async () => {
    const { organization_id: org } = await createOrg('Integrations bad');
    const noRs = await cli(['integration', 'create', '--org', org, '--id', 'x', '--ruleset', 'missing']);
    expect(noRs.code).toBe(1);
    expect(noRs.stderr).toMatch(/rule set 'missing' not found/);
    await json(['integration', 'create', '--org', org, '--id', 'dup', '--ruleset', 'default']);
    const dup = await cli(['integration', 'create', '--org', org, '--id', 'dup', '--ruleset', 'default']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);
    const badId = await cli(['integration', 'create', '--org', org, '--id', 'has space', '--ruleset', 'default']);
    expect(badId.code).toBe(1);
    expect(badId.stderr).toMatch(/integration_id/);
  });
});

describe('signalgate token', () => {
  test('token list shows minted tokens without any password; --user and --live filter', async () => {
    const { organization_id: org } = await createOrg('Tokens');
    const a = await services.tokens.mint({ orgId: org, userId: 'alice', userEmail: 'alice@example.com' });
    const b = await services.tokens.mint({ orgId: org, userId: 'bob' });
    const r = await cli(['token', 'list', '--org', org, '--json']);
    const { items } = JSON.parse(r.stdout) as Items<{ token_id: string; user_id: string; state: string; username: string }>;
    expect(items.map((t) => t.token_id).sort()).toEqual([a.tokenId, b.tokenId].sort());
    expect(items.every((t) => t.state === 'live')).toBe(true);
    expect(items.find((t) => t.token_id === a.tokenId)).toMatchObject({ user_id: 'alice', username: a.username });
    expect(r.stdout).not.toContain('tkn_');
    expect(r.stdout).not.toContain(a.password);

    const byEmail = await json<Items<{ token_id: string }>>(['token', 'list', '--org', org, '--user', 'alice@example.com']);
    expect(byEmail.items.map((t) => t.token_id)).toEqual([a.tokenId]);
    const nobody = await json<Items>(['token', 'list', '--org', org, '--user', 'carol']);
    expect(nobody.items).toEqual([]);
  });

  test('token revoke ends the credential (CONNECT gets 5), feeds the change log and the audit', async () => {
    const { organization_id: org } = await createOrg('Revoke');
    const t = await services.tokens.mint({ orgId: org, userId: 'dave' });
    expect(await services.connect.checkConnect(t.username, t.password)).toMatchObject({ ok: true });
    const before = await services.store.changes.lastSeq();

    const revoked = await json<{ token_id: string; state: string; revoke_reason: string }>(['token', 'revoke', '--org', org, '--token', t.tokenId, '--reason', 'lost laptop']);
    expect(revoked).toMatchObject({ token_id: t.tokenId, state: 'revoked', revoke_reason: 'lost laptop' });
    expect(await services.connect.checkConnect(t.username, t.password)).toEqual({ ok: false, reason: 'revoked' });
    expect(await services.store.changes.since(before)).toContainEqual(expect.objectContaining({ kind: 'token.revoked', orgId: org, ref: t.tokenId }));
    expect((await services.store.audit.query({ orgId: org, event: 'token.revoked' }))[0]).toMatchObject({ tokenId: t.tokenId, userAgent: 'signalgate-cli' });

    const live = await json<Items>(['token', 'list', '--org', org, '--live']);
    expect(live.items).toEqual([]);
  });

  test('token revoke --user revokes every live token of that user only', async () => {
    const { organization_id: org } = await createOrg('Revoke user');
    const e1 = await services.tokens.mint({ orgId: org, userId: 'erin' });
    const e2 = await services.tokens.mint({ orgId: org, userId: 'erin' });
    const f = await services.tokens.mint({ orgId: org, userId: 'frank' });
    const out = await json<{ revoked_token_ids: string[] }>(['token', 'revoke', '--org', org, '--user', 'erin']);
    expect(out.revoked_token_ids.sort()).toEqual([e1.tokenId, e2.tokenId].sort());
    expect(await services.connect.checkConnect(e1.username, e1.password)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await services.connect.checkConnect(f.username, f.password)).toMatchObject({ ok: true });
  });

  test('revoking a token of another organisation fails and leaves it live', async () => {
    const a = await createOrg('Token owner');
    const b = await createOrg('Token thief');
    const t = await services.tokens.mint({ orgId: a.organization_id, userId: 'gina' });
    const r = await cli(['token', 'revoke', '--org', b.organization_id, '--token', t.tokenId]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/token_not_found/);
    expect(await services.connect.checkConnect(t.username, t.password)).toMatchObject({ ok: true });
  });

  test('token revoke needs exactly one of --token or --user (usage error)', async () => {
    const { organization_id: org } = await createOrg('Revoke usage');
    const r = await cli(['token', 'revoke', '--org', org]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exactly one of --token or --user/);
  });
});

describe('signalgate session', () => {
  test('session list shows what brokers registered; kick asks the broker through the change feed and audits it', async () => {
    const { organization_id: org } = await createOrg('Sessions');
    const t = await services.tokens.mint({ orgId: org, userId: 'hank' });
    const now = Date.now();
    // what a broker writes on CONNECT
    await services.store.sessions.upsert({ brokerId: 'b-test', orgId: org, clientId: 'hank-phone', userRef: t.userRef, tokenId: t.tokenId,
      address: '10.0.0.7', protocol: 'mqtt', connectedAt: now, expiresAt: t.expiresAt });

    const { items } = await json<Items<{ client_id: string; user_id: string; token_id: string }>>(['session', 'list', '--org', org]);
    expect(items).toEqual([expect.objectContaining({ client_id: 'hank-phone', user_id: 'hank', token_id: t.tokenId })]);

    const before = await services.store.changes.lastSeq();
    const kicked = await json(['session', 'kick', '--org', org, '--client', 'hank-phone']);
    expect(kicked).toMatchObject({ kicked: true, client_id: 'hank-phone' });
    expect(await services.store.changes.since(before)).toEqual([expect.objectContaining({ kind: 'session.kick', orgId: org, ref: 'hank-phone' })]);
    expect(await services.store.audit.query({ orgId: org, event: 'session.kicked' })).toEqual([
      expect.objectContaining({ userRef: t.userRef, tokenId: t.tokenId, userAgent: 'signalgate-cli', detail: { client_id: 'hank-phone' } }),
    ]);
  });

  test('kicking a client that is not connected (or of another org) fails and appends nothing', async () => {
    const a = await createOrg('Sessions A');
    const b = await createOrg('Sessions B');
    const t = await services.tokens.mint({ orgId: a.organization_id, userId: 'ivy' });
    await services.store.sessions.upsert({ brokerId: 'b-test', orgId: a.organization_id, clientId: 'ivy-1', userRef: t.userRef, tokenId: t.tokenId,
      address: null, protocol: 'ws', connectedAt: Date.now(), expiresAt: t.expiresAt });
    const before = await services.store.changes.lastSeq();
    const r = await cli(['session', 'kick', '--org', b.organization_id, '--client', 'ivy-1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no session with client id 'ivy-1'/);
    expect(await services.store.changes.since(before)).toEqual([]);
    expect((await json<Items>(['session', 'list', '--org', b.organization_id])).items).toEqual([]);
  });
});

describe('signalgate audit', () => {
  test('audit list filters by org, event, user and limit, newest first, and never shows a secret', async () => {
    const created = await createOrg('Audit');
    const org = created.organization_id;
    const t1 = await services.tokens.mint({ orgId: org, userId: 'jack', userEmail: 'jack@example.com' }, { ip: '192.0.2.1', userAgent: 'test-agent' });
    const t2 = await services.tokens.mint({ orgId: org, userId: 'kate' });
    await services.tokens.refresh(t2.tokenId, t2.password);

    const minted = await json<Items<{ event: string; token_id: string; ip: string; user_agent: string; user_id: string }>>(['audit', 'list', '--org', org, '--event', 'token.minted']);
    expect(minted.items.map((e) => e.token_id)).toEqual([t2.tokenId, t1.tokenId]);
    expect(minted.items[1]).toMatchObject({ ip: '192.0.2.1', user_agent: 'test-agent', user_id: 'jack' });

    const limited = await json<Items>(['audit', 'list', '--org', org, '--limit', '1']);
    expect(limited.items).toHaveLength(1);
    expect(limited.items[0]).toMatchObject({ event: 'token.refreshed' });

    const jack = await json<Items<{ user_id: string }>>(['audit', 'list', '--org', org, '--user', 'jack@example.com']);
    expect(jack.items.length).toBeGreaterThan(0);
    expect(jack.items.every((e) => e.user_id === 'jack')).toBe(true);

    const all = await cli(['audit', 'list', '--org', org, '--json']);
    expect(all.stdout).toContain('org.created');
    for (const secret of [created.secret_key, t1.password, t2.password]) expect(all.stdout).not.toContain(secret);
    expect(all.stdout).not.toContain('tkn_');
    expect(all.stdout).not.toContain('sk_' + created.secret_key.slice(11)); // the part after the public prefix
  });

  test('a zero or non-numeric limit is a usage error', async () => {
    expect((await cli(['audit', 'list', '--limit', '0'])).code).toBe(2);
    expect((await cli(['audit', 'list', '--limit', 'ten'])).code).toBe(2);
  });
});

describe('signalgate provider', () => {
  const SECRET = 'the-supabase-jwt-secret-of-32-bytes-or-more';

  test('provider add fills the preset, takes the org UUID, and never prints the shared secret; list and remove', async () => {
    const { organization_id: org } = await createOrg('Providers Inc');
    const uuid = (await services.orgs.get(org)).uuid;
    const add = await cli(['provider', 'add', '--org', uuid, '--type', 'supabase', '--issuer', 'https://ref.supabase.co/auth/v1', '--secret', SECRET, '--json']);
    expect([add.code, add.stderr]).toEqual([0, '']);
    expect(JSON.parse(add.stdout)).toMatchObject({ provider: 'supabase', organization_id: org, verification: 'secret', audience: 'authenticated' });
    expect(add.stdout).not.toContain(SECRET);
    await json(['provider', 'add', '--org', org, '--type', 'auth0', '--issuer', 'https://tenant.eu.auth0.com/', '--audience', 'https://api.example.com']);
    const { items } = await json<Items<{ provider: string; verification: string; jwks_url: string | null }>>(['provider', 'list', '--org', org]);
    expect(items).toEqual([
      expect.objectContaining({ provider: 'auth0', verification: 'jwks', jwks_url: 'https://tenant.eu.auth0.com/.well-known/jwks.json' }),
      expect.objectContaining({ provider: 'supabase', verification: 'secret' }),
    ]);
    const human = await cli(['provider', 'list', '--org', org]);
    expect(human.stdout).not.toContain(SECRET);
    expect((await services.providers.list(org)).map((p) => p.name)).toEqual(['auth0', 'supabase']);
    expect((await cli(['provider', 'remove', '--org', org, '--name', 'auth0'])).code).toBe(0);
    expect((await services.providers.list(org)).map((p) => p.name)).toEqual(['supabase']);
  });

  test('--secret-file keeps the secret off the command line', async () => {
    const { organization_id: org } = await createOrg('Secret File');
    const file = path.join(tempDataDir('secret-file'), 'jwt-secret');
    fs.writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    const add = await cli(['provider', 'add', '--org', org, '--type', 'supabase', '--issuer', 'https://file.supabase.co/auth/v1', '--secret-file', file]);
    expect(add.code).toBe(0);
    expect((await services.providers.get(org, 'supabase')).secret).toBe(SECRET);
  });

  test('an unknown type is a usage error (exit 2); a bad issuer or a short secret is refused naming the field (exit 1)', async () => {
    const { organization_id: org } = await createOrg('Bad Providers');
    const type = await cli(['provider', 'add', '--org', org, '--type', 'myspace', '--issuer', 'https://x.example']);
    expect(type.code).toBe(2);
    expect(type.stderr).toMatch(/supabase, firebase, auth0, clerk, oidc|Allowed choices/);
    const issuer = await cli(['provider', 'add', '--org', org, '--type', 'oidc', '--issuer', 'not-a-url', '--audience', 'app']);
    expect([issuer.code, issuer.stdout]).toEqual([1, '']);
    expect(issuer.stderr).toMatch(/issuer/);
    const secret = await cli(['provider', 'add', '--org', org, '--type', 'supabase', '--issuer', 'https://ref.supabase.co/auth/v1', '--secret', 'short']);
    expect(secret.code).toBe(1);
    expect(secret.stderr).toMatch(/secret/);
    expect(secret.stderr).not.toContain('short');
    expect(await services.providers.list(org)).toEqual([]);
  });
});

describe('the command line itself', () => {
  test('an unknown command is a usage error (exit 2)', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  test('--help lists the nouns and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const noun of ['org', 'key', 'ruleset', 'integration', 'provider', 'token', 'session', 'audit', 'start']) expect(r.stdout).toMatch(new RegExp(`\\n  ${noun}\\b`));
  });

  test('a bad setting stops the command with the variable named, exit 1, no stack trace', async () => {
    const r = await runCli(dataDir, ['org', 'list'], { SIGNALGATE_KEY_CACHE_SECONDS: 'forever' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SIGNALGATE_KEY_CACHE_SECONDS/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('each data dir is its own world: a fresh dir has no organisations', async () => {
    const other = tempDataDir('other');
    expect((await runJson<Items>(other, ['org', 'list'])).items).toEqual([]);
  });
});

describe('signalgate start', () => {
  test('first start runs the API and the broker and prints the dev org, its key and the admin key once; a minted token connects', async () => {
    const dir = tempDataDir('start');
    const first = await startCli(dir, []);
    try {
      const s = first.summary;
      expect(s.dev_organization_id).toMatch(/^org_[a-z0-9]{12}$/);
      expect(s.dev_secret_key).toMatch(/^sk_/);
      expect(s.admin_key).toMatch(/^adm_/);
      expect(s.api_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(s.mqtt_url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
      expect(s.mqtts_url).toBeNull();

      // the printed key works against the running API, and the token it mints opens an MQTT session
      const res = await fetch(`${s.api_url}/v2/tokens`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${s.dev_secret_key}` },
        body: JSON.stringify({ user_id: 'first-user' }),
      });
      expect(res.status).toBe(200);
      const token = (await res.json()) as { mqtt_credentials: { username: string; password: string } };
      const client = await mqtt.connectAsync(s.mqtt_url!, { ...token.mqtt_credentials, reconnectPeriod: 0, connectTimeout: 5000 });
      expect(client.connected).toBe(true);
      await client.endAsync();
    } finally {
      expect(await first.stop('SIGTERM')).toBe(0);
    }

    // the secrets are printed once: a restart prints none and the dev key still works
    const second = await startCli(dir, []);
    try {
      expect(second.summary).toMatchObject({ dev_organization_id: null, dev_secret_key: null, admin_key: null });
      const res = await fetch(`${second.summary.api_url}/v2/tokens`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${first.summary.dev_secret_key}` },
        body: JSON.stringify({ user_id: 'second-user' }),
      });
      expect(res.status).toBe(200);
      expect(second.stdout()).not.toContain(first.summary.dev_secret_key!);
    } finally {
      expect(await second.stop('SIGINT')).toBe(0);
    }
  });

  test('a configured admin key is not printed, and SIGNALGATE_BOOTSTRAP_DEV_ORG=false creates no org', async () => {
    const dir = tempDataDir('start-config');
    const run = await startCli(dir, [], { SIGNALGATE_ADMIN_KEY: 'adm_configured_key_for_the_test_0123456789', SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false' });
    try {
      expect(run.summary).toMatchObject({ dev_organization_id: null, admin_key: null });
      expect(run.stdout()).not.toContain('adm_configured_key_for_the_test');
    } finally {
      expect(await run.stop()).toBe(0);
    }
    expect((await runJson<Items>(dir, ['org', 'list'])).items).toEqual([]);
  });

  test('with --json and logging on, stdout holds only the summary line (log lines go to stderr)', async () => {
    const dir = tempDataDir('start-json-logs');
    const run = await startCli(dir, [], { SIGNALGATE_LOG_LEVEL: 'info' });
    let stdout: string;
    try {
      expect(run.summary.api_url).toMatch(/^http:\/\/127\.0\.0\.1:/);
      const res = await fetch(`${run.summary.api_url}/healthz`);
      expect(res.ok).toBe(true);
      expect(run.summary.dashboard_url).toBe(`${run.summary.api_url}/dashboard/`);
      expect((await fetch(run.summary.dashboard_url!)).ok).toBe(true);
    } finally {
      expect(await run.stop()).toBe(0);
      stdout = run.stdout();
    }
    expect(stdout.trim().split('\n')).toHaveLength(1);
  });

  test('bound to every interface, the printed URLs still name a reachable local address', async () => {
    const dir = tempDataDir('start-any');
    const run = await startCli(dir, [], { SIGNALGATE_BIND: '0.0.0.0', SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false' });
    try {
      expect(run.summary.api_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(run.summary.mqtt_url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });

  test('--api-only and --broker-only start one side; both together is a usage error', async () => {
    const dir = tempDataDir('start-split');
    const api = await startCli(dir, ['--api-only']);
    const broker = await startCli(dir, ['--broker-only']);
    try {
      expect(api.summary.api_url).toMatch(/^http:/);
      expect(api.summary.mqtt_url).toBeNull();
      expect(broker.summary.api_url).toBeNull();
      expect(broker.summary.mqtt_url).toMatch(/^mqtt:/);
      // the two processes share the data dir: a token minted by one is accepted by the other
      const res = await fetch(`${api.summary.api_url}/v2/tokens`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${api.summary.dev_secret_key}` },
        body: JSON.stringify({ user_id: 'split-user' }),
      });
      const token = (await res.json()) as { mqtt_credentials: { username: string; password: string } };
      const client = await mqtt.connectAsync(broker.summary.mqtt_url!, { ...token.mqtt_credentials, reconnectPeriod: 0, connectTimeout: 5000 });
      await client.endAsync();
    } finally {
      expect(await api.stop()).toBe(0);
      expect(await broker.stop()).toBe(0);
    }
    const both = await runCli(dir, ['start', '--api-only', '--broker-only']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exclude each other/);
  });
});
