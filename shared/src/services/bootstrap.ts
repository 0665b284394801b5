// First start of the embedded default: a dev organisation and its sk_ key, printed once.
import type { Store } from '../store/store.js';
import type { OrgService } from './orgs.js';

const SETTING = 'bootstrapped_at';

export async function bootstrapDevOrg(store: Store, orgs: OrgService): Promise<{ organizationId: string; secretKey: string } | null> {
  // Claimed in one IMMEDIATE transaction: two processes starting together on a new data dir
  // (API and broker as separate services) must not both create a dev organisation.
  const claimed = store.transaction(() => {
    if (store.settings.get(SETTING) || store.orgs.list().length > 0) return false;
    store.settings.set(SETTING, String(Date.now()));
    return true;
  });
  if (!claimed) return null;
  try {
    const { org, secretKey } = await orgs.create('Development');
    return { organizationId: org.id, secretKey };
  } catch (err) {
    store.settings.delete(SETTING);
    throw err;
  }
}
