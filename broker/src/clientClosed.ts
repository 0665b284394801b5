// When aedes closes a client, whatever the cause (socket closed or errored, DISCONNECT, takeover,
// keep-alive, our own kick). Hooked once on aedes' Client prototype instead of a 'close' listener
// per socket: a third listener on a socket makes Node grow its listener array to 20 slots (208
// bytes per idle connection with the WeakMap entry that found the client). aedes binds `close` in
// its Client constructor, so the prototype is patched before the first client exists; the package
// exports only its entry point, hence the file is loaded by path (aedes is pinned, see README).
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Aedes, Client } from 'aedes';

type Closing = (client: Client) => void;
type ClientClass = { prototype: { close(this: Client & { closed: boolean; broker: Aedes }, done?: () => void): void } };

/** Per broker (tests and embedders run several in one process): aedes' Client knows its broker. */
const handlers = new WeakMap<Aedes, Closing>();
let patched: Promise<void> | null = null;

async function patchClientClose(): Promise<void> {
  const entry = createRequire(import.meta.url).resolve('aedes');
  const { default: Client } = (await import(pathToFileURL(path.join(path.dirname(entry), 'lib', 'client.js')).href)) as { default: ClientClass };
  const close = Client.prototype.close;
  Client.prototype.close = function closeAndTell(done) {
    const first = !this.closed;
    close.call(this, done);
    // After aedes' own first steps, as the socket 'close' listener it replaces ran after aedes'.
    if (first) handlers.get(this.broker)?.(this);
  };
}

/** Calls `fn` once per client of `aedes` as aedes closes it. Await before the broker accepts a connection. */
export async function onClientClosed(aedes: Aedes, fn: Closing): Promise<void> {
  handlers.set(aedes, fn);
  await (patched ??= patchClientClose());
}
