// First start of the embedded default: a dev organisation and its sk_ key, printed once.
import type { Store } from '../store/store.js';
import type { OrgService } from './orgs.js';

const SETTING = 'bootstrapped_at';

export async function bootstrapDevOrg(store: Store, orgs: OrgService): Promise<{ organizationId: string; secretKey: string } | null> {
  if (store.settings.get(SETTING) || store.orgs.list().length > 0) return null;
  const { org, secretKey } = await orgs.create('Development');
  store.settings.set(SETTING, String(Date.now()));
  return { organizationId: org.id, secretKey };
}
