// Rights whose layers read no placeholder are the same for every connection holding those layers:
// one EffectiveRights for all of them (a copy per connection was ~270 bytes of an idle connection),
// and its verdict memos serve them all. Entries are keyed by the layers' content, so a rule change
// simply makes a new entry; the oldest entries go past the bound.
import { hasPlaceholders, type PlaceholderValues } from './placeholders.js';
import { EffectiveRights, expandLayer, type RuleLayer } from './rights.js';

const DEFAULT_ENTRIES = 1024;

/** Whether the layer reads `${user_id}`, `${client_id}` or the like: its rights differ per connection. */
export const layerUsesPlaceholders = (l: RuleLayer): boolean =>
  [l.publish, l.subscribe, l.denyPublish, l.denySubscribe].some((list) => list?.some(hasPlaceholders) ?? false);

export class RightsCache {
  private readonly byLayers = new Map<string, EffectiveRights>();

  constructor(private readonly maxEntries = DEFAULT_ENTRIES) {}

  /** The rights over `layers` with placeholders expanded from `values`; shared when nothing is expanded. */
  rightsOf(layers: readonly RuleLayer[], values: PlaceholderValues): EffectiveRights {
    if (layers.some(layerUsesPlaceholders)) return new EffectiveRights(layers.map((l) => expandLayer(l, values)));
    const key = JSON.stringify(layers);
    const known = this.byLayers.get(key);
    if (known) return known;
    if (this.byLayers.size >= this.maxEntries) this.byLayers.delete(this.byLayers.keys().next().value!);
    const rights = new EffectiveRights(layers.map((l) => expandLayer(l, values)));
    this.byLayers.set(key, rights);
    return rights;
  }

  get size(): number {
    return this.byLayers.size;
  }
}
