// Members grouped by a key (the clients of a token, the sessions of a token) where most keys have one
// member: that member is stored as itself, and a Set only from the second on. A Set per key was
// ~150 bytes per idle connection, twice.
export class GroupedBy<K, V> {
  private readonly groups = new Map<K, V | Set<V>>();

  add(key: K, member: V): void {
    const group = this.groups.get(key);
    if (group === undefined) this.groups.set(key, member);
    else if (group instanceof Set) group.add(member);
    else if (group !== member) this.groups.set(key, new Set([group, member]));
  }

  delete(key: K, member: V): void {
    const group = this.groups.get(key);
    if (group === undefined) return;
    if (group instanceof Set) {
      group.delete(member);
      if (group.size === 1) this.groups.set(key, group.values().next().value!);
      else if (group.size === 0) this.groups.delete(key);
    } else if (group === member) {
      this.groups.delete(key);
    }
  }

  /** A copy of the members of `key` (safe to change the groups while going through it). */
  get(key: K): V[] {
    const group = this.groups.get(key);
    return group === undefined ? [] : group instanceof Set ? [...group] : [group];
  }

  keys(): IterableIterator<K> {
    return this.groups.keys();
  }
}
