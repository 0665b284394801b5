// The users behind listed rows (tokens, sessions): a row names its user by ref, a view shows the
// user's id and email.
import type { Services, User } from '@signalgate/shared';

type UserOwned = { orgId: string; userRef: string };

const keyOf = (r: UserOwned) => `${r.orgId}\u0000${r.userRef}`;

/**
 * Reads each distinct user of `rows` once, all at once (not one read per row, one after another: on
 * PostgreSQL each is a round trip). The store has no read of many users by ref yet; when it does,
 * this becomes that one query.
 */
export async function usersOf(services: Services, rows: readonly UserOwned[]): Promise<(row: UserOwned) => User | undefined> {
  const distinct = new Map<string, UserOwned>();
  for (const r of rows) distinct.set(keyOf(r), r);
  const found = await Promise.all([...distinct.values()].map((r) => services.store.users.byRef(r.orgId, r.userRef)));
  const byKey = new Map<string, User>();
  for (const u of found) if (u) byKey.set(keyOf(u), u);
  return (row) => byKey.get(keyOf(row));
}
