// A CONNECT is decided on what the store said when it was asked, and the answer comes back later
// (a round trip on a network database). A change the watcher applies in between (a revoke, rules
// narrowed, limits lowered) finds only the sessions open by then, not the one being admitted. So a
// CONNECT takes a mark before its check, and when its session opens after a change of its org was
// applied, the org's sessions are re-read (SessionRegistry.open → refreshOrg).
//
// Bounded: past MAX_ORGS organisations the record starts afresh, and a mark taken before that
// counts as changed (a refresh more than needed, never one fewer).
const MAX_ORGS = 10_000;

export class OrgChangeMarks {
  private applied = 0;
  private floor = 0;
  private readonly lastApplied = new Map<string, number>();

  /** Taken before a CONNECT's check. */
  mark(): number {
    return this.applied;
  }

  /** The change watcher is applying a change of `orgId`. */
  changed(orgId: string): void {
    if (this.lastApplied.size >= MAX_ORGS && !this.lastApplied.has(orgId)) {
      this.lastApplied.clear();
      this.floor = this.applied;
    }
    this.lastApplied.set(orgId, ++this.applied);
  }

  /** Whether a change of `orgId` was applied after `mark` was taken. */
  changedSince(orgId: string, mark: number): boolean {
    return mark < this.floor || (this.lastApplied.get(orgId) ?? 0) > mark;
  }
}
