// HTTP fuzz of every route the OpenAPI document (GET /openapi.json) declares. For each path and
// method: bodies generated from the declared request schema with wrong types, huge and hostile
// strings, nested junk, invalid JSON, prototype-pollution keys, wrong content types; path
// parameters with odd characters; and every kind of credential (none, garbage, the org key, another
// org's key, the admin key as Bearer and as X-Admin-Key, a tkn_ password). Every answer must be
// below 500, carry no stack trace or file path, and echo no secret; the API's own log lines (pino,
// captured in memory) must hold no secret either.
import http from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { pino } from 'pino';
import { loadConfig, openServices, type PublishChannelHolder, type Services } from '@signalgate/shared';
import { startTokenApi, type TokenApiHandle } from '@signalgate/token-api';
import { startBroker, type BrokerHandle } from '@signalgate/broker';
import { tempDataDir } from '../support/stack.js';

const SEED = 8080;
const CASES_PER_OPERATION = 40;
const ADMIN_KEY = 'adm_fuzz-admin-key-0123456789abcdefghijklmnopq';

const logLines: string[] = [];
let api: TokenApiHandle;
/** A real broker in the same process, so the REST publisher's routes publish for real. */
let broker: BrokerHandle;
let services: Services;
let dataDir: string;
// A fresh connection per case: a connection the server ends after an early answer cannot fail the next case.
const agent = new http.Agent({ keepAlive: false, maxSockets: 8 });

/** Every secret the API has seen; none may come back in a body or appear in a log line. */
const secrets: string[] = [ADMIN_KEY];
/** Known-good values by parameter or field name, so some requests get past validation and auth. */
const known: Record<string, string[]> = {};
const auth: Record<string, Record<string, string>> = {};

beforeAll(async () => {
  dataDir = tempDataDir('http-fuzz');
  const config = loadConfig({
    SIGNALGATE_DATA_DIR: dataDir,
    SIGNALGATE_API_PORT: '0',
    SIGNALGATE_ADMIN_KEY: ADMIN_KEY,
    // One address sends thousands of deliberate failures: rate limits would answer 429 to most.
    SIGNALGATE_AUTH_FAILURES_PER_IP: '1000000',
    SIGNALGATE_MINT_RATE_PER_IP: '1000000',
    SIGNALGATE_PUBLISH_RATE_PER_KEY: '1000000',
    SIGNALGATE_PUBLISH_BURST_PER_KEY: '1000000',
    SIGNALGATE_MQTT_PORT: '0',
    SIGNALGATE_WS_PORT: '0',
    SIGNALGATE_MQTTS_PORT: 'off',
    SIGNALGATE_WSS_PORT: 'off',
  });
  services = await openServices(config);
  const sink = new Writable({ write(chunk, _enc, done) { logLines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  // No redaction here: the API itself must keep secrets out of what it logs, at every level.
  const logger = pino({ level: 'trace' }, sink);
  const publisher: PublishChannelHolder = { current: null };
  api = await startTokenApi({ config, services, logger, publisher });
  broker = await startBroker({ config, services, logger });
  publisher.current = broker.publisher;

  const victim = await services.orgs.create('Victim');
  const other = await services.orgs.create('Other');
  const spareKey = await services.keys.create(victim.org.id);
  secrets.push(victim.secretKey, other.secretKey, spareKey.secretKey);

  // Credentials minted (and one refreshed) through the API, as a client would.
  const minted = [];
  for (const user of ['alice', 'bob']) {
    const r = await send('POST', '/v2/tokens', { Authorization: `Bearer ${victim.secretKey}`, 'Content-Type': 'application/json' }, JSON.stringify({ user_id: user, permissions: ['publish', 'subscribe', 'presence', 'history'], topics: ['#'] }));
    expect(r.status).toBe(200);
    minted.push(JSON.parse(r.text) as { token_id: string; password: string });
  }
  const refreshed = await send('POST', '/v2/tokens/refresh', { 'Content-Type': 'application/json' }, JSON.stringify({ token_id: minted[0]!.token_id, current_token_password: minted[0]!.password }));
  expect(refreshed.status).toBe(200);
  const fresh = JSON.parse(refreshed.text) as { password: string };
  secrets.push(...minted.map((m) => m.password), fresh.password);

  await services.rules.create(victim.org.id, 'support', { publish: ['a/#'], subscribe: ['a/#'], presence: false, history: false });
  await services.integrations.create(victim.org.id, 'web-app', 'support');

  Object.assign(known, {
    org_id: [victim.org.id, other.org.id],
    organization_id: [victim.org.id, other.org.id],
    key_id: [spareKey.key.id],
    token_id: minted.map((m) => m.token_id),
    rule_set: ['support', 'default'],
    integration_id: ['web-app'],
    client_id: ['web-1'],
    user: ['alice', 'bob'],
    user_id: ['alice', 'bob'],
    user_email: ['alice@example.com'],
    secret_key: [victim.secretKey, other.secretKey],
    current_token_password: [fresh.password, minted[1]!.password],
    topic: ['a/b', 'chat/#'],
  });
  Object.assign(auth, {
    none: {},
    orgKey: { Authorization: `Bearer ${victim.secretKey}` },
    otherOrgKey: { Authorization: `Bearer ${other.secretKey}` },
    adminBearer: { Authorization: `Bearer ${ADMIN_KEY}` },
    adminHeader: { 'X-Admin-Key': ADMIN_KEY },
    mqttCredential: { Authorization: `Bearer ${minted[1]!.password}` },
    garbage: { Authorization: 'Bearer sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    wrongScheme: { Authorization: `Basic ${Buffer.from(`x:${victim.secretKey}`).toString('base64')}` },
    hugeHeader: { Authorization: `Bearer tkn_${'A'.repeat(8000)}` },
    emptyBearer: { Authorization: 'Bearer ' },
  });
});

afterAll(async () => {
  agent.destroy();
  await broker?.close();
  await api?.close();
  await services?.store.close();
});

function send(method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    // Node's client sends a GET/DELETE body without framing unless told its length.
    const framing = body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {};
    const req = http.request({ host: '127.0.0.1', port: api.port, method, path, headers: { ...framing, ...headers }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

// ---- Generators from the OpenAPI schema ---------------------------------------------------------------

type Schema = Record<string, any>;
let components: Record<string, Schema> = {};
const resolve = (s: Schema): Schema => (s.$ref ? resolve(components[String(s.$ref).split('/').pop()!]!) : s);

const HOSTILE_STRINGS = [
  '', ' ', '\u0000', 'a\u0000b', '%00', '../../etc/passwd', '${user_id}', '#', '+', '$SYS/#', '\u202e', '🙂', '\ud800', "'; DROP TABLE orgs; --",
  '<script>alert(1)</script>', '{{7*7}}', 'x'.repeat(70_000), 'é'.repeat(5_000), 'null', 'true', '0', '-1', '1e309', 'sk_', 'tkn_', 'org_',
];
const junkArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 2 ** 53 + 1, -0, [], {}, [[[[[]]]]], { __proto__: { polluted: 1 } }),
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.jsonValue({ maxDepth: 3 }),
);

function valueArb(name: string, schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  const types: string[] = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  const good: fc.Arbitrary<unknown>[] = [];
  if (known[name]) good.push(fc.constantFrom(...known[name]!));
  if (s.enum) good.push(fc.constantFrom(...(s.enum as unknown[])));
  for (const t of types) {
    if (t === 'string' && !s.enum) good.push(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(...HOSTILE_STRINGS)));
    if (t === 'integer') good.push(fc.oneof(fc.integer(), fc.constantFrom(0, 1, 60, 3600, 86_400 * 400, -5)));
    if (t === 'number') good.push(fc.double());
    if (t === 'boolean') good.push(fc.boolean());
    if (t === 'null') good.push(fc.constant(null));
    if (t === 'array' && s.items && depth < 3) good.push(fc.array(valueArb(name, s.items, depth + 1), { maxLength: 4 }));
    if (t === 'object' && depth < 3) good.push(objectArb(s, depth + 1));
  }
  for (const alt of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) if (depth < 3) good.push(valueArb(name, alt, depth + 1));
  if (good.length === 0) return junkArb;
  return fc.oneof({ weight: 4, arbitrary: fc.oneof(...good) }, { weight: 1, arbitrary: junkArb });
}

function objectArb(schema: Schema, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const s = resolve(schema);
  const props = Object.entries((s.properties ?? {}) as Record<string, Schema>);
  const fields = Object.fromEntries(props.map(([k, v]) => [k, valueArb(k, v, depth)]));
  return fc
    .tuple(fc.record(fields, { requiredKeys: [] }), fc.dictionary(fc.string({ maxLength: 8 }), junkArb, { maxKeys: 2 }))
    .map(([obj, extra]) => ({ ...extra, ...obj }));
}

/** Bodies that are not (valid, small) JSON objects at all. */
const RAW_BODIES = [
  '', '{', '{"a":', 'nul', 'NaN', '[1,2', '"just a string"', '42', 'null', '[]', '\u0000', '\ufeff{}', '{"a":1,"a":2}',
  '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}',
  '['.repeat(20_000) + ']'.repeat(20_000),
  `{"x":${'{"x":'.repeat(5_000)}1${'}'.repeat(5_001)}`,
  `{"user_id":"${'u'.repeat(70_000)}"}`,
  '{"user_id":1e999}',
];
const CONTENT_TYPES = [
  'application/json', 'application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/merge-patch+json', 'APPLICATION/JSON', '*/*', '',
];
/** Path segments a router or a decoder may trip on (already in wire form). */
const ODD_SEGMENTS = [
  '%00', '%2e%2e', '%E0%A4%A', '%', '%ZZ', 'a%2Fb', '%F0%9F%99%82', '%C0%AF', 'x'.repeat(4_000), ';', '$SYS', '%23', '%3F', '%20', '..%2F..%2F',
  '%24%7Buser_id%7D', 'org_', 'org_%00aaaaaaaaaa', '__proto__', 'constructor', '-1', '0', '9'.repeat(40),
];

interface HttpCase {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function caseArb(method: string, template: string, bodySchema: Schema | undefined, queryParams: string[]): fc.Arbitrary<HttpCase> {
  const params = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const paramArb = (p: string) => fc.oneof(...(known[p] ? [fc.constantFrom(...known[p]!.map(encodeURIComponent))] : []), fc.constantFrom(...ODD_SEGMENTS));
  const pathArb = fc.tuple(...params.map(paramArb)).map((values) => params.reduce((path, p, i) => path.replace(`{${p}}`, values[i]!), template));
  const queryArb = fc
    .array(fc.tuple(fc.constantFrom(...queryParams, 'x', '__proto__', 'limit'), fc.oneof(fc.constantFrom(...(known.topic ?? []), '-1', '1e9', '%00', '%', 'a&b', '#'), fc.string({ maxLength: 5 }).map(encodeURIComponent))), { maxLength: 3 })
    .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));
  const bodyArb: fc.Arbitrary<string | undefined> = fc.oneof(
    { weight: 5, arbitrary: bodySchema ? objectArb(bodySchema).map((o) => JSON.stringify(o)) : fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constantFrom(...RAW_BODIES) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  return fc
    .record({ path: pathArb, query: queryArb, auth: fc.constantFrom(...Object.keys(auth)), contentType: fc.constantFrom(...CONTENT_TYPES), body: bodyArb })
    .map(({ path, query, auth: a, contentType, body }) => ({
      method,
      path: path + query,
      headers: { ...auth[a], ...(contentType ? { 'Content-Type': contentType } : {}) },
      ...(body !== undefined ? { body } : {}),
    }));
}

// ---- The checks ---------------------------------------------------------------------------------------

/** What must never be in a response body, whatever the request. */
function problemsIn(text: string): string[] {
  const found: string[] = [];
  if (/\n\s+at \S/.test(text) || /\bat (?:\S+ )?\(?(?:file:|node:|\/)\S+:\d+:\d+/.test(text)) found.push('stack frame');
  if (/node_modules|file:\/\/|(?:\/[\w.@-]+)+\.(?:ts|js|mjs|cjs)\b/.test(text)) found.push('file path');
  if (text.includes(dataDir) || text.includes(process.cwd())) found.push('server path');
  if (/SQLITE_|better-sqlite3|TypeError|ReferenceError|RangeError|Cannot read properties/.test(text)) found.push('internal error text');
  for (const s of secrets) if (text.includes(s)) found.push(`secret ${s.slice(0, 6)}…`);
  return found;
}

describe('HTTP fuzz of every OpenAPI operation', () => {
  test('no 5xx, no stack trace or path, no secret echoed, no secret logged, no prototype pollution', async () => {
    const doc = JSON.parse((await send('GET', '/openapi.json', {})).text) as { paths: Record<string, Record<string, Schema>>; components: { schemas: Record<string, Schema> } };
    components = doc.components.schemas;
    const operations = Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).map(([m, op]) => ({ path: p, method: m.toUpperCase(), op })));
    expect(operations.length).toBeGreaterThan(30);

    const cases: HttpCase[] = [];
    operations.forEach(({ path, method, op }, i) => {
      const bodySchema = op.requestBody?.content?.['application/json']?.schema as Schema | undefined;
      const query = ((op.parameters ?? []) as Schema[]).filter((p) => p.in === 'query').map((p) => String(p.name));
      cases.push(...fc.sample(caseArb(method, path, bodySchema, query), { seed: SEED + i, numRuns: CASES_PER_OPERATION }));
      // The same path with methods it does not declare.
      for (const other of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].filter((m) => !(m.toLowerCase() in doc.paths[path]!))) {
        cases.push({ method: other, path: path.replace(/\{\w+\}/g, 'x'), headers: { ...auth.orgKey, 'Content-Type': 'application/json' }, body: '{}' });
      }
    });
    // And paths no route declares.
    for (const p of ['/', '/v2', '/v2/', '/v1/tokens', '/v2/tokens/', '/v2//tokens', '/v2/admin', '/%', '/v2/tokens/%E0%A4%A', '/.env', '/openapi.json/x']) {
      cases.push({ method: 'GET', path: p, headers: {} }, { method: 'POST', path: p, headers: { 'Content-Type': 'application/json' }, body: '{}' });
    }

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        let r;
        try {
          r = await send(c.method, c.path, c.headers, c.body);
        } catch (err) {
          failures.push(`${c.method} ${c.path.slice(0, 120)} [${(c.body ?? '').slice(0, 80)}] → no answer: ${(err as Error).message}`);
          continue;
        }
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        const problems = problemsIn(r.text);
        if (r.status >= 500) problems.push(`status ${r.status}`);
        if (problems.length) failures.push(`${c.method} ${c.path.slice(0, 120)} [${(c.body ?? '').slice(0, 80)}] → ${r.status} ${problems.join(', ')}: ${r.text.slice(0, 200)}`);
      }
    }));

    expect(failures).toEqual([]);
    // The fuzz reached past validation and auth, not only error paths.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(50);
    for (const code of [400, 401, 403, 404, 413, 415]) expect(statuses.get(code) ?? 0).toBeGreaterThan(0);
    // No body key leaked onto Object.prototype of the process running the API.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    const logged = logLines.join('\n');
    // Every answered request below 400 has its line; refusals are sampled per address and status.
    const below400 = [...statuses].filter(([code]) => code < 400).reduce((n, [, count]) => n + count, 0);
    expect(logLines.length).toBeGreaterThan(below400 + statuses.size);
    expect(secrets.filter((s) => logged.includes(s)).map((s) => s.slice(0, 6))).toEqual([]);
  }, 180_000);
});
