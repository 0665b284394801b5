// The users behind listed rows (tokens, sessions): a row names its user by ref, a view shows the
// user's id and email.
import type { Services, User } from '@signalgate/shared';

type UserOwned = { orgId: string; userRef: string };

const keyOf = (r: UserOwned) => `${r.orgId}\u0000${r.userRef}`;

/** The users of `rows`: one read per organisation among them (not one per row: on PostgreSQL each is a round trip). */
export async function usersOf(services: Services, rows: readonly UserOwned[]): Promise<(row: UserOwned) => User | undefined> {
  const refsOfOrg = new Map<string, Set<string>>();
  for (const r of rows) {
    let refs = refsOfOrg.get(r.orgId);
    if (!refs) refsOfOrg.set(r.orgId, (refs = new Set()));
    refs.add(r.userRef);
  }
  const found = await Promise.all([...refsOfOrg].map(([orgId, refs]) => services.store.users.byRefs(orgId, [...refs])));
  const byKey = new Map<string, User>();
  for (const u of found.flat()) byKey.set(keyOf(u), u);
  return (row) => byKey.get(keyOf(row));
}
