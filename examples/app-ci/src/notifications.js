// The app's server-side code under test: it notifies a user the way CloudSignal's notifications
// package does (REST publisher, `$notifications/<user>/inbox/<category>`), configured only from
// the environment: CLOUDSIGNAL_SECRET_KEY and the REST publisher's URL.
export async function notifyUser(env, userId, category, notification) {
  const res = await fetch(`${env.CLOUDSIGNAL_REST_PUBLISHER_URL}/v1/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${env.CLOUDSIGNAL_SECRET_KEY}` },
    body: JSON.stringify({ topic: `$notifications/${userId}/inbox/${category}`, payload: notification, qos: 1 }),
  });
  if (!res.ok) throw new Error(`notify failed: ${res.status} ${(await res.json()).error}`);
}
