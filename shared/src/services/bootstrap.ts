// First start of the embedded default: a dev organisation and its sk_ key, printed once.
import type { Store } from '../store/types.js';
import type { OrgService } from './orgs.js';

const SETTING = 'bootstrapped_at';

export async function bootstrapDevOrg(store: Store, orgs: OrgService): Promise<{ organizationId: string; secretKey: string } | null> {
  if (await store.settings.get(SETTING)) return null; // every start but the first: no argon2 draft
  // Claimed in the transaction that creates the org: two processes starting together on a new
  // data dir (API and broker as separate services) must not both create a dev organisation.
  const created = await orgs.createIf('Development', async (tx) => {
    if ((await tx.settings.get(SETTING)) || (await tx.orgs.list()).length > 0) return false;
    await tx.settings.set(SETTING, String(Date.now()));
    return true;
  });
  return created && { organizationId: created.org.id, secretKey: created.secretKey };
}
