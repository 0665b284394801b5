// How an app's CI uses SignalGate: one instance per test file, started in-process with the app's
// own organisation id and key (as in its .env), the app's code pointed at it through the URLs
// SignalGate prints, and the whole thing stopped afterwards (jest --detectOpenHandles stays quiet).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startSignalGate } from 'signalgate/testing';
import { notifyUser } from '../src/notifications.js';

// What the app's .env.test would hold (any well-formed values: SignalGate serves whatever it is given).
const appEnv = { CLOUDSIGNAL_ORG_ID: 'org_k7xm4pqr2n5t', CLOUDSIGNAL_SECRET_KEY: 'sk_test_0123456789abcdefghijklmnop' };
let sg;

beforeAll(async () => {
  sg = await startSignalGate({
    env: appEnv,
    state: {
      organizations: [{
        id: appEnv.CLOUDSIGNAL_ORG_ID,
        secret_keys: [{ secret: '${CLOUDSIGNAL_SECRET_KEY}' }],
        // The org's bound: the backend (REST publisher, secret key) writes any inbox…
        default_rules: { publish: ['$notifications/#'], subscribe: ['$notifications/#'] },
        // …and the browser integration lets each user read only their own.
        rule_sets: [{ name: 'browser', publish: [], subscribe: ['$notifications/${user_id}/inbox/#'] }],
        integrations: [{ integration_id: 'web', rule_set: 'browser' }],
      }],
    },
  });
});
afterAll(() => sg?.stop());

test("a notification the app sends reaches the user's inbox subscription, and no one else's", async () => {
  const alice = await sg.mintToken({ userEmail: 'alice@example.com', integrationId: 'web' });
  const client = await sg.connect({ token: alice });
  await client.subscribeAsync(`$notifications/${alice.user_id}/inbox/#`, { qos: 1 });
  // mqtt.js rejects a SUBACK that refuses; the packet says why (0x87 Not authorized).
  const refused = await client.subscribeAsync('$notifications/someone-else/inbox/#', { qos: 1 }).catch((err) => err.packet.granted);
  expect(refused).toEqual([0x87]);

  const received = new Promise((resolve) => client.once('message', (topic, payload) => resolve({ topic, body: JSON.parse(payload.toString()) })));
  await notifyUser({ ...appEnv, ...sg.appSettings }, alice.user_id, 'billing', { title: 'Invoice ready' });
  await expect(received).resolves.toEqual({ topic: `$notifications/${alice.user_id}/inbox/billing`, body: { title: 'Invoice ready' } });
});

test('a token of a few seconds expires while connected: the broker ends the session with DISCONNECT 0xA0 (what an SDK refresh must beat)', async () => {
  const short = await sg.mintToken({ userEmail: 'bob@example.com', ttlSeconds: 2 });
  const client = await sg.connect({ token: short });
  const ended = new Promise((resolve) => client.once('disconnect', (packet) => resolve(packet.reasonCode)));
  await expect(ended).resolves.toBe(0xa0); // Maximum connect time: the token expired
}, 10_000);
