// Declared state (shared/src/state) on a real SQLite file: a file's problems each named with their
// line, applying is idempotent, export → apply changes nothing, a changed file changes exactly what
// changed, and what the file does not mention stays.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  applyState, appOrgFromEnv, exportState, loadConfig, openServices, orgIdFromUuid, orgUuidFromId, parseStateFile,
  stateToYaml, StateFileError, withAppOrg, type Services,
} from '@signalgate/shared';

const KEY = 'sk_declaredkeydeclaredkey0001';
const env = { ACME_KEY: KEY, HS_SECRET: 'a-shared-hmac-secret-of-at-least-32-bytes!' };
const FILE = `version: 1
organizations:
  - id: org_k7xm4pqr2n5t
    name: Acme
    settings:
      min_ttl_seconds: 5
    limits:
      max_connections: 50
      max_retained_messages: null
    secret_keys:
      - secret: \${ACME_KEY}
        name: app
    default_rules:
      publish: ['#']
      subscribe: ['#', 'users/\${user_id}/#']
      presence: true
    rule_sets:
      - name: readonly
        publish: []
        subscribe: ['news/#']
        deny_subscribe: ['news/secret']
    integrations:
      - integration_id: web
        rule_set: readonly
    providers:
      - type: supabase
        issuer: https://abcd.supabase.co/auth/v1
        secret: \${HS_SECRET}
  - uuid: 3F2504E0-4F89-41D3-9A0C-0305E82C3301
    name: By UUID
`;

const problemsOf = (text: string, e: Record<string, string> = env) => {
  try {
    parseStateFile(text, { source: 'f.yaml', env: e });
  } catch (err) {
    if (err instanceof StateFileError) return err.problems.map((p) => `${p.line}: ${p.path}${p.path ? ': ' : ''}${p.message}`);
    throw err;
  }
  return [];
};

describe('reading a state file', () => {
  test('a valid file parses; ${UPPER} is the environment, ${user_id} stays a rule placeholder', () => {
    const state = parseStateFile(FILE, { env });
    expect(state.organizations[0]!.secret_keys![0]!.secret).toBe(KEY);
    expect(state.organizations[0]!.default_rules!.subscribe).toEqual(['#', 'users/${user_id}/#']);
  });

  test.each([
    ['an unknown key', 'organizations:\n  - id: org_k7xm4pqr2n5t\n    colour: red\n', '3: organizations[0].colour: unknown key'],
    ['a wrong type', 'organizations:\n  - id: org_k7xm4pqr2n5t\n    default_rules:\n      publish: chat\n      subscribe: []\n', '4: organizations[0].default_rules.publish: Invalid input: expected array, received string'],
    ['a number as a string', 'organizations:\n  - id: org_k7xm4pqr2n5t\n    limits:\n      max_connections: "10"\n', '4: organizations[0].limits.max_connections: Invalid input: expected number, received string'],
    ['a duplicate org id', 'organizations:\n  - id: org_k7xm4pqr2n5t\n  - id: org_k7xm4pqr2n5t\n', "3: organizations[1].id: organization id 'org_k7xm4pqr2n5t' is declared twice (first at organizations[0].id)"],
    ['a duplicate rule set', 'organizations:\n  - id: org_k7xm4pqr2n5t\n    rule_sets:\n      - {name: a, publish: [], subscribe: []}\n      - {name: a, publish: [], subscribe: []}\n', "5: organizations[0].rule_sets[1].name: rule set of organizations[0] 'a' is declared twice (first at organizations[0].rule_sets[0].name)"],
    ['a key of the wrong shape', 'organizations:\n  - id: org_k7xm4pqr2n5t\n    secret_keys:\n      - secret: pk_short\n', '4: organizations[0].secret_keys[0].secret: must be a secret key: sk_ or cs_ and 20-200 letters, digits, _ or -'],
    ['an org id of the wrong shape', 'organizations:\n  - id: ORG-1\n', '2: organizations[0].id: must be org_ followed by 12 lowercase letters or digits'],
    ['an org without an id', 'organizations:\n  - name: x\n', '2: organizations[0].id: give id (org_…) or uuid'],
    ['an integration naming an undeclared rule set', 'organizations:\n  - id: org_k7xm4pqr2n5t\n    rule_sets: []\n    integrations:\n      - {integration_id: web, rule_set: nope}\n', "5: organizations[0].integrations[0].rule_set: names rule set 'nope', which rule_sets does not declare"],
    ['a missing environment variable', 'organizations:\n  - id: org_k7xm4pqr2n5t\n    secret_keys:\n      - secret: ${NOT_SET_ANYWHERE}\n', '4: environment variable NOT_SET_ANYWHERE is not set'],
    ['a repeated map key', 'organizations:\n  - id: org_k7xm4pqr2n5t\n    id: org_k7xm4pqr2n5u\n', '3: Map keys must be unique'],
    ['broken YAML', 'organizations:\n  - id: [\n', '3: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  ])('%s is refused with its line', (_what, text, problem) => {
    expect(problemsOf(text)).toEqual([problem]);
  });

  test('an unknown top-level key: named, and so is the missing list it was meant to be', () => {
    expect(problemsOf('organisations: []\n')).toEqual(['1: organizations: Invalid input: expected array, received undefined', '1: organisations: unknown key']);
  });

  test('every problem of a file is named, not only the first, in line order', () => {
    expect(problemsOf('organizations:\n  - id: org_k7xm4pqr2n5t\n    colour: red\n    limits:\n      max_connections: -1\n')).toEqual([
      '3: organizations[0].colour: unknown key',
      '5: organizations[0].limits.max_connections: Too small: expected number to be >0',
    ]);
  });
});

describe('applying and exporting', () => {
  let s: Services;
  beforeAll(async () => {
    s = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-state-')) }));
  });
  afterAll(async () => { await s?.store.close(); });

  test('a first apply makes everything; the same file again changes nothing; the key works; ids are as declared or derived', async () => {
    const state = parseStateFile(FILE, { env });
    const first = await applyState(s, state);
    expect(first.changes).toEqual(expect.arrayContaining([
      'org_k7xm4pqr2n5t: created', "org_k7xm4pqr2n5t: rule set 'readonly' created", "org_k7xm4pqr2n5t: integration 'web' created",
      "org_k7xm4pqr2n5t: provider 'supabase' added", expect.stringMatching(/^org_k7xm4pqr2n5t: secret key key_\w+ \(sk_declared…\) imported$/),
    ]));
    const auditRows = (await s.store.audit.query({ limit: 1000 })).length;
    expect((await applyState(s, state)).changes).toEqual([]);
    expect((await s.store.audit.query({ limit: 1000 })).length).toBe(auditRows); // nothing written
    expect((await s.keys.verify(KEY)).orgId).toBe('org_k7xm4pqr2n5t');
    const byUuid = await s.orgs.get('3f2504e0-4f89-41d3-9a0c-0305e82c3301');
    expect(byUuid.id).toBe(orgIdFromUuid('3f2504e0-4f89-41d3-9a0c-0305e82c3301'));
    expect((await s.orgs.get('org_k7xm4pqr2n5t')).uuid).toBe(orgUuidFromId('org_k7xm4pqr2n5t'));
    expect(await s.orgs.get('org_k7xm4pqr2n5t')).toMatchObject({ minTtlSeconds: 5, limits: { maxConnections: 50, maxRetainedMessages: null } });
  });

  test('export round-trips: its YAML applied changes nothing, and it holds no secret', async () => {
    const yaml = stateToYaml(await exportState(s));
    expect(yaml).not.toContain(KEY);
    expect(yaml).not.toContain(env.HS_SECRET);
    expect((await applyState(s, parseStateFile(yaml, { env: {} }))).changes).toEqual([]);
    expect((await s.store.providers.get('org_k7xm4pqr2n5t', 'supabase'))!.secret).toBe(env.HS_SECRET); // kept
  });

  test('a changed file changes exactly what changed; sections it lists are the truth, what it omits stays', async () => {
    const readonlyId = (await s.rules.get('org_k7xm4pqr2n5t', 'readonly')).id;
    const changed = FILE
      .replace("subscribe: ['news/#']", "subscribe: ['news/#', 'sport/#']")
      .replace("      - integration_id: web\n        rule_set: readonly\n", '      - integration_id: web\n        rule_set: default\n')
      .replace(/    providers:\n[\s\S]*?HS_SECRET\}\n/, '');
    const report = await applyState(s, parseStateFile(changed, { env }));
    expect(report.changes.sort()).toEqual(["org_k7xm4pqr2n5t: integration 'web' updated", "org_k7xm4pqr2n5t: rule set 'readonly' updated"]);
    expect(await s.rules.get('org_k7xm4pqr2n5t', 'readonly')).toMatchObject({ id: readonlyId, subscribe: ['news/#', 'sport/#'] });
    expect(await s.providers.list('org_k7xm4pqr2n5t')).toHaveLength(1); // the section is gone from the file: not managed
    const dropped = changed.replace(/    rule_sets:\n[\s\S]*?news\/secret'\]\n/, '    rule_sets: []\n');
    expect((await applyState(s, parseStateFile(dropped, { env }))).changes).toEqual(["org_k7xm4pqr2n5t: rule set 'readonly' deleted"]);
  });

  test('contradicting the store is refused before anything is written', async () => {
    const before = (await s.store.audit.query({ limit: 1000 })).length;
    await expect(applyState(s, parseStateFile('organizations:\n  - id: org_k7xm4pqr2n5t\n    uuid: 3f2504e0-4f89-41d3-9a0c-0305e82c3301\n', { env }))).rejects.toThrow(/two different organizations/);
    const other = 'organizations:\n  - id: org_aaaaaaaaaaaa\n    secret_keys:\n      - secret: ${ACME_KEY}\n';
    await expect(applyState(s, parseStateFile(other, { env }))).rejects.toThrow(/is a key of another organization/);
    expect(await s.store.orgs.get('org_aaaaaaaaaaaa')).toBeUndefined();
    expect((await s.store.audit.query({ limit: 1000 })).length).toBe(before);
  });
});

describe("an app's CloudSignal settings", () => {
  test('CLOUDSIGNAL_ORG_ID (or its NEXT_PUBLIC_ twin) and CLOUDSIGNAL_SECRET_KEY become a declared org', () => {
    expect(appOrgFromEnv({})).toBeNull();
    expect(appOrgFromEnv({ CLOUDSIGNAL_ORG_ID: 'org_k7xm4pqr2n5t', CLOUDSIGNAL_SECRET_KEY: KEY }))
      .toEqual({ id: 'org_k7xm4pqr2n5t', secret_keys: [{ secret: KEY, name: 'CLOUDSIGNAL_SECRET_KEY' }] });
    // A key alone is what a state file reading ${CLOUDSIGNAL_SECRET_KEY} needs (the compose emulator).
    expect(appOrgFromEnv({ CLOUDSIGNAL_SECRET_KEY: KEY }, { withStateFile: true })).toBeNull();
    expect(() => appOrgFromEnv({ CLOUDSIGNAL_ORG_ID: 'org_k7xm4pqr2n5t', NEXT_PUBLIC_CLOUDSIGNAL_ORG_ID: 'org_aaaaaaaaaaaa' })).toThrow(/name different organisations/);
    expect(appOrgFromEnv({ NEXT_PUBLIC_CLOUDSIGNAL_ORG_ID: '3F2504E0-4F89-41D3-9A0C-0305E82C3301' })).toMatchObject({ uuid: '3f2504e0-4f89-41d3-9a0c-0305e82c3301' });
    expect(() => appOrgFromEnv({ CLOUDSIGNAL_ORG_ID: 'your-org-uuid' })).toThrow(/CLOUDSIGNAL_ORG_ID: 'your-org-uuid' is neither/);
    expect(() => appOrgFromEnv({ CLOUDSIGNAL_ORG_ID: 'org_k7xm4pqr2n5t', CLOUDSIGNAL_SECRET_KEY: 'sk_your_secret_key' })).toThrow(/CLOUDSIGNAL_SECRET_KEY: not a secret key/);
    expect(() => appOrgFromEnv({ CLOUDSIGNAL_SECRET_KEY: KEY })).toThrow(/CLOUDSIGNAL_ORG_ID is not/);
  });

  test("merged into the file's entry for the same org, else added", () => {
    const state = parseStateFile(FILE, { env });
    const other = 'sk_anotherkeyanotherkey00001';
    const merged = withAppOrg(state, appOrgFromEnv({ CLOUDSIGNAL_ORG_ID: 'org_k7xm4pqr2n5t', CLOUDSIGNAL_SECRET_KEY: other }));
    expect(merged.organizations).toHaveLength(2);
    expect(merged.organizations[0]!.secret_keys!.map((k) => k.secret)).toEqual([KEY, other]);
    expect(withAppOrg(state, appOrgFromEnv({ CLOUDSIGNAL_ORG_ID: 'org_bbbbbbbbbbbb' })).organizations).toHaveLength(3);
  });
});

describe('what the hostile review of declared state found (each held here)', () => {
  let s: Services;
  beforeAll(async () => {
    s = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-state-review-')) }));
  });
  afterAll(async () => { await s?.store.close(); });
  const apply = (text: string, e: Record<string, string> = env) => applyState(s, parseStateFile(text, { env: e }));

  test('${NAME} is read from the environment in secret fields only: a name or filter keeps it as text, so export → apply is exact', async () => {
    const state = parseStateFile("organizations:\n  - id: org_txtxtxtxtxtx\n    name: 'Team ${DB_PASSWORD}'\n    default_rules: {publish: ['x/$notenv/y'], subscribe: []}\n", { env: { DB_PASSWORD: 'hunter2' } });
    expect(state.organizations[0]!.name).toBe('Team ${DB_PASSWORD}');
    await applyState(s, state);
    const yaml = stateToYaml(await exportState(s, ['org_txtxtxtxtxtx']));
    expect(yaml).not.toContain('hunter2');
    expect((await applyState(s, parseStateFile(yaml, { env: {} }))).changes).toEqual([]);
  });

  test('one secret key for two organisations (the file and the app settings) is refused before anything is imported', async () => {
    const state = withAppOrg(parseStateFile('organizations:\n  - id: org_dupkeydupkey\n    secret_keys: [{secret: "${K}"}]\n', { env: { K: 'sk_sharedsharedshared000001' } }),
      appOrgFromEnv({ CLOUDSIGNAL_ORG_ID: 'org_otherotherot', CLOUDSIGNAL_SECRET_KEY: 'sk_sharedsharedshared000001' }));
    await expect(applyState(s, state)).rejects.toThrow('the secret key sk_sharedsh… is declared for org_dupkeydupkey and for org_otherotherot');
    expect(await s.store.orgs.get('org_dupkeydupkey')).toBeUndefined();
  });

  test("the app settings naming a declared org by its UUID add their key to it: one org, its own name kept, idempotent", async () => {
    const { org } = await s.orgs.create('Acme Production');
    const state = withAppOrg(parseStateFile(`organizations:\n  - id: ${org.id}\n    default_rules: {publish: ['#'], subscribe: ['#']}\n`, { env: {} }),
      appOrgFromEnv({ CLOUDSIGNAL_ORG_ID: org.uuid, CLOUDSIGNAL_SECRET_KEY: 'sk_appkeyappkeyappkey000001' }));
    const first = await applyState(s, state);
    expect(first.organizations).toEqual([{ id: org.id, uuid: org.uuid, name: 'Acme Production' }]);
    expect((await applyState(s, state)).changes).toEqual([]);
  });

  test('an HMAC provider exports as hmac: true without its secret; applied where the secret is not stored it is refused, not turned into a JWKS provider', async () => {
    await apply("organizations:\n  - id: org_hmachmachmac\n    providers: [{type: supabase, issuer: 'https://abc.supabase.co/auth/v1', secret: '${HS_SECRET}'}]\n");
    const yaml = stateToYaml(await exportState(s, ['org_hmachmachmac']));
    expect(yaml).toContain('hmac: true');
    expect((await applyState(s, parseStateFile(yaml, { env: {} }))).changes).toEqual([]);
    const fresh = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-state-fresh-')) }));
    try {
      await expect(applyState(fresh, parseStateFile(yaml, { env: {} }))).rejects.toThrow(/provider 'supabase' verifies with a shared secret/);
    } finally {
      await fresh.store.close();
    }
  });

  test('a declared key that was rotated away (expired) is refused, not reported as unchanged', async () => {
    await apply('organizations:\n  - id: org_rotrotrotrot\n    secret_keys: [{secret: "${K}"}]\n', { K: 'sk_rotatedrotatedrotated01' });
    const key = (await s.keys.verify('sk_rotatedrotatedrotated01'));
    await s.keys.rotate('org_rotrotrotrot', key.id, 0);
    await expect(apply('organizations:\n  - id: org_rotrotrotrot\n    secret_keys: [{secret: "${K}"}]\n', { K: 'sk_rotatedrotatedrotated01' })).rejects.toThrow(/is revoked or expired: declare a new one/);
  });

  test('what a service would refuse (a bad filter, a bad issuer) is refused at reading, with its line', () => {
    expect(problemsOf("organizations:\n  - id: org_k7xm4pqr2n5t\n    default_rules:\n      publish: ['a/#/b']\n      subscribe: []\n    providers:\n      - type: oidc\n        issuer: not-a-url\n")).toEqual([
      expect.stringMatching(/^4: organizations\[0\]\.default_rules\.publish\[0\]: 'a\/#\/b': /),
      expect.stringMatching(/^8: organizations\[0\]\.providers\[0\]\.issuer: must be an absolute http\(s\) URL/),
    ]);
  });

  test('secrets compare exactly (two keys differing in case are two keys) and a repeated one is shown by its prefix only', () => {
    expect(problemsOf('organizations:\n  - id: org_k7xm4pqr2n5t\n    secret_keys: [{secret: sk_AbCdEfGhIjKlMnOpQrStUvWx}, {secret: sk_abcdefghijklmnopqrstuvwx}]\n')).toEqual([]);
    const dup = problemsOf('organizations:\n  - id: org_k7xm4pqr2n5t\n    secret_keys: [{secret: sk_fullkey0000000000000000000}, {secret: sk_fullkey0000000000000000000}]\n');
    expect(dup).toEqual([expect.stringContaining("secret key 'sk_fullkey0…' is declared twice")]);
  });

  test('an alias bomb is refused with a line, as a state file error', () => {
    const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`), 'organizations: []'].join('\n');
    expect(problemsOf(bomb)).toEqual([expect.stringMatching(/^1: .*[Aa]lias/)]);
  });
});
