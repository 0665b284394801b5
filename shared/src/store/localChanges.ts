// This process's own appends to the change feed, told to its caches the moment the write commits
// (before the write's promise resolves): a revoke answered 200 here is refused here at once, with
// no wait for the feed. Other processes learn through the feed (Store.onChange and the poll).
import type { Change } from './changes.js';
import type { ChangeFeedStore, StoreTx } from './types.js';

export type LocalChange = Pick<Change, 'kind' | 'orgId' | 'ref'>;
export type LocalChangeListener = (changes: readonly LocalChange[]) => void;

export class LocalChanges {
  private readonly listeners = new Set<LocalChangeListener>();

  subscribe(listener: LocalChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells every listener; one that throws does not keep the others from hearing. */
  tell(changes: readonly LocalChange[]): void {
    if (changes.length === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(changes);
      } catch {
        // a cache that cannot drop an entry is the cache's bug; the write itself committed
      }
    }
  }
}

/** `repos` whose `changes.append` reports each append to `appended` once the append resolved. */
export function noticingAppends(repos: StoreTx, appended: (change: LocalChange) => void): StoreTx {
  const changes = repos.changes;
  // Inherits the rest from the repository itself (a class instance's methods are on its prototype).
  const noticing: ChangeFeedStore = Object.assign(Object.create(changes) as ChangeFeedStore, {
    append: async (...[kind, orgId, ref, now]: Parameters<ChangeFeedStore['append']>) => {
      await changes.append(kind, orgId, ref, now);
      appended({ kind, orgId, ref });
    },
  });
  return { ...repos, changes: noticing };
}
