// The operator's admin key: argon2id at rest in `settings`, set from SIGNALGATE_ADMIN_KEY or
// generated on first start and printed once.
import { createCacheKeyer, hashLongLivedSecret, verifyLongLivedSecret } from '../credentials/hashing.js';
import type { BeforeSlowCheck, SlowChecks } from '../credentials/slowChecks.js';
import { newAdminKey } from '../credentials/secrets.js';
import { SignalGateError } from '../errors.js';
import type { Store } from '../store/types.js';

const SETTING = 'admin_key_hash';

export class AdminKeyService {
  private readonly cacheKeyOf = createCacheKeyer();
  private verifiedCacheKey: string | null = null;
  private verifiedHash: string | null = null;

  constructor(
    private readonly store: Store,
    private readonly slowChecks: SlowChecks,
  ) {}

  /** Makes sure an admin key exists; returns the generated one if this call created it. */
  async ensure(configured: string | undefined): Promise<{ generated?: string }> {
    const stored = await this.store.settings.get(SETTING);
    if (configured !== undefined) {
      if (!stored || !(await verifyLongLivedSecret(stored, configured))) await this.store.settings.set(SETTING, await hashLongLivedSecret(configured));
      return {};
    }
    if (stored) return {};
    const generated = newAdminKey();
    await this.store.settings.set(SETTING, await hashLongLivedSecret(generated));
    return { generated };
  }

  /** Throws 401 unless `secret` is the admin key (argon2 when not cached: see ApiKeyService.verify). */
  async verify(secret: unknown, beforeSlowCheck?: BeforeSlowCheck): Promise<void> {
    const fail = () => new SignalGateError('unauthorized', 'a valid admin key is required');
    if (typeof secret !== 'string' || secret.length < 16 || secret.length > 512) throw fail();
    const stored = await this.store.settings.get(SETTING);
    if (!stored) throw fail();
    const cacheKey = this.cacheKeyOf(secret);
    if (this.verifiedCacheKey === cacheKey && this.verifiedHash === stored) return;
    if (!(await this.slowChecks.run(cacheKey, () => verifyLongLivedSecret(stored, secret), beforeSlowCheck))) throw fail();
    this.verifiedCacheKey = cacheKey;
    this.verifiedHash = stored;
  }
}
