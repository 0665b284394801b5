// A minimal typed event hub (the SDK runs in browsers, so no node:events).

type AnyListener = (...args: unknown[]) => void;

export class Listeners<E extends { [K in keyof E]: unknown[] }> {
  readonly #map = new Map<keyof E, Set<AnyListener>>();

  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): () => void {
    let set = this.#map.get(event);
    if (!set) this.#map.set(event, (set = new Set()));
    const l = listener as unknown as AnyListener;
    set.add(l);
    return () => {
      set.delete(l);
    };
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    for (const l of [...(this.#map.get(event) ?? [])]) {
      try {
        l(...args);
      } catch (err) {
        // A throwing application callback must not break the connection logic; surface it async.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
