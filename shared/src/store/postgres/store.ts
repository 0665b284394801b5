// PLACEHOLDER (being written): the PostgreSQL store.
import type { Store } from '../types.js';
import type { StoreOptions } from '../sqlite/store.js';

export async function openPostgresStore(_url: string, _options: StoreOptions = {}): Promise<Store> {
  throw new Error('PostgreSQL store not built yet');
}
