// A persistent session's subscriptions are also stored by aedes, which queues messages for them
// while the client is away and restores them at its return. aedes removes a stored subscription
// only for the client's own UNSUBSCRIBE (lib/handlers/unsubscribe.js, with a message id); the
// subscriptions SignalGate removes (rights narrowed, or refused at restore) are removed here, so
// nothing keeps queuing on topics the session may no longer read.
import type { Client } from 'aedes';

type Stored = Client & { clean: boolean; broker: { persistence: { removeSubscriptions(client: Client, filters: string[]): Promise<void> } } };

export function forgetStoredSubscriptions(client: Client, filters: string[], onError: (err: unknown) => void): void {
  const c = client as Stored;
  if (c.clean || filters.length === 0) return; // aedes stores none for a clean session (handlers/subscribe.js)
  c.broker.persistence.removeSubscriptions(client, filters).catch(onError);
}
