// The SDK's pure policies: backoff, refresh timing, addresses and defaults, payload coding, presets.
import { describe, expect, test } from '@jest/globals';
import {
  CloudSignal, DEFAULT_AUTH_RETRY_DELAY_SECONDS, DEFAULT_PORTS, DEFAULT_RETRY_BACKOFF, PRESETS, TOKEN_ERRORS, backoffDelaySeconds, decodePayload,
  defaultTokenServiceUrl, encodePayload, endpointUrl, randomClientId, refreshDelayMs, resolveBrokerAddress, resolvePresetName, tokenErrorTypeOf,
} from '@signalgate/client';

describe('retry backoff (seed 004)', () => {
  test('defaults give 1 → 2 → 4 → 8 → 16 → 32 → 60 → 60 s', () => {
    expect(DEFAULT_RETRY_BACKOFF).toEqual({ baseSeconds: 1, ceilSeconds: 60 });
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50, 5000].map((a) => backoffDelaySeconds(a, DEFAULT_RETRY_BACKOFF))).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
  });
  test('the wait between fresh credentials and the reconnect defaults to 2 s', () => {
    expect(DEFAULT_AUTH_RETRY_DELAY_SECONDS).toBe(2);
  });
  test('other bases and ceilings double the same way', () => {
    expect([0, 1, 2, 3].map((a) => backoffDelaySeconds(a, { baseSeconds: 0.5, ceilSeconds: 3 }))).toEqual([0.5, 1, 2, 3]);
  });
});

describe('refresh timing', () => {
  const now = 1_000_000;
  test('a 60-minute token refreshes refreshBufferSeconds before refresh_recommended_at', () => {
    const issued = now;
    const refreshAt = issued + 3_240_000; // 90 % of 3600 s
    expect(refreshDelayMs({ refreshAt, expiresAt: issued + 3_600_000, now, bufferSeconds: 60 })).toBe(3_180_000);
    expect(refreshDelayMs({ refreshAt, expiresAt: issued + 3_600_000, now, bufferSeconds: 0 })).toBe(3_240_000);
  });
  test('a buffer longer than a short lifetime is clamped to half of what remains, never a refresh loop', () => {
    expect(refreshDelayMs({ refreshAt: now + 9_000, expiresAt: now + 10_000, now, bufferSeconds: 60 })).toBe(5_000);
  });
  test('past refresh_recommended_at: refresh at once', () => {
    expect(refreshDelayMs({ refreshAt: now - 1, expiresAt: now + 500, now, bufferSeconds: 60 })).toBe(0);
    expect(refreshDelayMs({ refreshAt: now - 5_000, expiresAt: now - 1_000, now, bufferSeconds: 60 })).toBe(0);
  });
  test('never later than refresh_recommended_at and within the timer limit', () => {
    for (const [ttl, buffer] of [[10, 0], [60, 30], [3600, 60], [86400 * 60, 60]] as const) {
      const refreshAt = now + ttl * 900;
      const d = refreshDelayMs({ refreshAt, expiresAt: now + ttl * 1000, now, bufferSeconds: buffer });
      expect(d).toBeLessThanOrEqual(Math.min(refreshAt - now, 2 ** 31 - 1));
      expect(d).toBeGreaterThan(0);
    }
  });
});

describe('broker address and defaults', () => {
  test("SignalGate's default ports", () => {
    expect(DEFAULT_PORTS).toEqual({ mqtt: 1883, mqtts: 8883, ws: 8083, wss: 18885 });
  });
  test('Node: a bare host means MQTT over TCP on 1883', () => {
    expect(resolveBrokerAddress({ host: 'broker.example' }, {})).toEqual({ host: 'broker.example', port: 1883, scheme: 'mqtt', path: '' });
    expect(endpointUrl({ host: 'broker.example' })).toBe('mqtt://broker.example:1883');
  });
  test('host:port and URLs are honoured; WebSocket URLs default to /mqtt', () => {
    expect(resolveBrokerAddress({ host: 'b.example:9999' }, {})).toMatchObject({ host: 'b.example', port: 9999, scheme: 'mqtt' });
    expect(resolveBrokerAddress({ host: 'ws://b.example:1234' }, {})).toEqual({ host: 'b.example', port: 1234, scheme: 'ws', path: '/mqtt' });
    expect(resolveBrokerAddress({ host: 'wss://b.example' }, {})).toEqual({ host: 'b.example', port: 18885, scheme: 'wss', path: '/mqtt' });
    expect(resolveBrokerAddress({ host: 'ws://b.example:80/custom' }, {})).toMatchObject({ path: '/custom', port: 80 });
    expect(resolveBrokerAddress({ host: 'b.example', protocol: 'wss', port: 443 }, {})).toEqual({ host: 'b.example', port: 443, scheme: 'wss', path: '/mqtt' });
    expect(endpointUrl({ host: 'b.example', port: 443, scheme: 'wss' })).toBe('wss://b.example:443/mqtt');
    expect(endpointUrl({ host: '::1', scheme: 'tcp' })).toBe('mqtt://[::1]:1883');
  });
  test('browser: the page host over ws (wss on https pages)', () => {
    expect(resolveBrokerAddress({}, { page: { protocol: 'http:', hostname: 'app.example' } })).toEqual({ host: 'app.example', port: 8083, scheme: 'ws', path: '/mqtt' });
    expect(resolveBrokerAddress({}, { page: { protocol: 'https:', hostname: 'app.example' } })).toEqual({ host: 'app.example', port: 18885, scheme: 'wss', path: '/mqtt' });
  });
  test("no host in Node: the token service's host, else localhost", () => {
    expect(resolveBrokerAddress({}, { tokenServiceUrl: 'http://signal.internal:8080' })).toMatchObject({ host: 'signal.internal', port: 1883 });
    expect(resolveBrokerAddress({}, {})).toMatchObject({ host: 'localhost' });
  });
  test('token service default: the broker host (or page host) on 8080', () => {
    expect(defaultTokenServiceUrl('broker.example', undefined)).toBe('http://broker.example:8080');
    expect(defaultTokenServiceUrl('ws://broker.example:8083/mqtt', undefined)).toBe('http://broker.example:8080');
    expect(defaultTokenServiceUrl(undefined, { protocol: 'https:', hostname: 'app.example' })).toBe('https://app.example:8080');
    expect(defaultTokenServiceUrl(undefined, undefined)).toBe('http://localhost:8080');
  });
});

describe('payloads', () => {
  test('objects travel as JSON, strings as they are', () => {
    expect(encodePayload({ user: 'a', text: 'hi' })).toBe('{"user":"a","text":"hi"}');
    expect(encodePayload('plain')).toBe('plain');
    expect(encodePayload(42)).toBe('42');
  });
  test('JSON payloads arrive parsed, anything else as a string', () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    expect(decodePayload(bytes('{"user":"a","n":1}'))).toEqual({ user: 'a', n: 1 });
    expect(decodePayload(bytes('[1,2]'))).toEqual([1, 2]);
    expect(decodePayload(bytes('hello world'))).toBe('hello world');
    expect(decodePayload(bytes('{broken'))).toBe('{broken');
    expect(decodePayload(bytes(''))).toBe('');
  });
});

describe('presets (as the official SDK configures them)', () => {
  test('desktop, agent and server speak MQTT 5, mobile 3.1.1; keepalive, reconnect and connect timeout per preset', () => {
    expect(PRESETS).toEqual({
      desktop: { protocolVersion: 5, keepaliveSeconds: 60, reconnectPeriodMs: 5_000, connectTimeoutMs: 30_000, requestTimeoutMs: 30_000 },
      mobile: { protocolVersion: 4, keepaliveSeconds: 60, reconnectPeriodMs: 10_000, connectTimeoutMs: 30_000, requestTimeoutMs: 30_000 },
      agent: { protocolVersion: 5, keepaliveSeconds: 30, reconnectPeriodMs: 2_000, connectTimeoutMs: 15_000, requestTimeoutMs: 30_000, messageExpirySeconds: 300 },
      server: { protocolVersion: 5, keepaliveSeconds: 30, reconnectPeriodMs: 1_000, connectTimeoutMs: 10_000, requestTimeoutMs: 60_000 },
    });
  });
  test("'auto' (and no preset) is desktop in a browser, mobile in a phone's browser, server in Node", () => {
    expect(resolvePresetName(undefined, {})).toBe('server');
    expect(resolvePresetName('auto', {})).toBe('server');
    expect(resolvePresetName('auto', { browser: true })).toBe('desktop');
    expect(resolvePresetName('auto', { browser: true, userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)' })).toBe('mobile');
    expect(resolvePresetName('auto', { browser: true, userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8)' })).toBe('mobile');
    expect(resolvePresetName('agent', { browser: true })).toBe('agent');
    expect(() => resolvePresetName('laptop' as never, {})).toThrow(/unknown preset 'laptop'/);
  });
});

describe('client ids', () => {
  test("'cs_' and 8 random letters or digits, different every time", () => {
    const ids = Array.from({ length: 200 }, () => randomClientId());
    for (const id of ids) expect(id).toMatch(/^cs_[A-Za-z0-9]{8}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('token service errors (classified as the official SDK classifies them)', () => {
  test('401 token_expired → TOKEN_EXPIRED, other 401 → AUTH_FAILED, 404 provider_not_found → PROVIDER_NOT_FOUND, other 404 → ORG_NOT_FOUND, 429 → RATE_LIMITED, else INVALID_RESPONSE', () => {
    expect(tokenErrorTypeOf(401, 'token_expired')).toBe(TOKEN_ERRORS.TOKEN_EXPIRED);
    expect(tokenErrorTypeOf(401, 'invalid_token')).toBe(TOKEN_ERRORS.AUTH_FAILED);
    expect(tokenErrorTypeOf(401, undefined)).toBe(TOKEN_ERRORS.AUTH_FAILED);
    expect(tokenErrorTypeOf(404, 'provider_not_found')).toBe(TOKEN_ERRORS.PROVIDER_NOT_FOUND);
    expect(tokenErrorTypeOf(404, 'organization_not_found')).toBe(TOKEN_ERRORS.ORG_NOT_FOUND);
    expect(tokenErrorTypeOf(404, 'token_not_found')).toBe(TOKEN_ERRORS.ORG_NOT_FOUND);
    expect(tokenErrorTypeOf(429, 'rate_limited')).toBe(TOKEN_ERRORS.RATE_LIMITED);
    expect(tokenErrorTypeOf(400, 'invalid_request')).toBe(TOKEN_ERRORS.INVALID_RESPONSE);
    expect(tokenErrorTypeOf(403, 'token_expired')).toBe(TOKEN_ERRORS.INVALID_RESPONSE);
    expect(tokenErrorTypeOf(500, undefined)).toBe(TOKEN_ERRORS.INVALID_RESPONSE);
  });

  /** A CloudSignal whose token service answers every request with `status` and `body`. */
  const answering = (status: number, body: string) =>
    new CloudSignal({ tokenServiceUrl: 'http://token.test', fetch: async () => new Response(body, { status, headers: { 'Content-Type': 'application/json' } }) });

  test('the message is error_description, else detail; code is the body\'s error; status and type are kept', async () => {
    const both = { error: 'rate_limited', error_description: 'too many token requests; retry later', detail: 'ignored when error_description is there' };
    await expect(answering(429, JSON.stringify(both)).getProviders('org_x')).rejects.toMatchObject({
      code: 'rate_limited', status: 429, type: 'RATE_LIMITED', message: 'too many token requests; retry later (GET /v2/providers)',
    });
    await expect(answering(401, JSON.stringify({ error: 'token_expired', detail: 'jwt expired' })).connectWithToken({ organizationId: 'org_x', externalToken: 'eyJ.x.y' }))
      .rejects.toMatchObject({ code: 'token_expired', status: 401, type: 'TOKEN_EXPIRED', message: 'jwt expired (POST /v2/tokens/exchange)' });
  });

  test('a body that is not JSON (a proxy\'s page) gives http_<status>; an unreachable service NETWORK_ERROR', async () => {
    await expect(answering(502, '<html>Bad Gateway</html>').getProviders('org_x')).rejects.toMatchObject({ code: 'http_502', status: 502, type: 'INVALID_RESPONSE', message: 'HTTP 502 (GET /v2/providers)' });
    const down = new CloudSignal({ tokenServiceUrl: 'http://token.test', fetch: async () => { throw new TypeError('fetch failed'); } });
    await expect(down.getProviders('org_x')).rejects.toMatchObject({ code: 'token_service_unreachable', type: 'NETWORK_ERROR' });
  });

  test('getProviders asks GET /v2/providers with the organization id, escaped, and answers the providers array', async () => {
    const asked: string[] = [];
    const providers = [{ provider: 'clerk', type: 'clerk', issuer: 'https://x.clerk.accounts.dev', audience: null, jwks_url: 'https://x.clerk.accounts.dev/.well-known/jwks.json', enabled: true }];
    const client = new CloudSignal({ tokenServiceUrl: 'http://token.test/', fetch: async (input) => { asked.push(String(input)); return Response.json({ providers }); } });
    expect(await client.getProviders('org a&b')).toEqual(providers);
    expect(asked).toEqual(['http://token.test/v2/providers?organization_id=org%20a%26b']);
  });
});
