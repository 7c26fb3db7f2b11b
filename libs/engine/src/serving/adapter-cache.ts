import type { LoraAdapter } from '../adapter/lora-adapter.js';

/** Bytes an adapter holds in host memory: its factors. */
export function adapterBytes(adapter: LoraAdapter): number {
  let bytes = 0;
  for (const { a, b } of adapter.factors.values()) bytes += a.byteLength + b.byteLength;
  return bytes;
}

/**
 * Adapters in host memory between the blob store and the device slots: least recently used
 * first out once the total passes `maxBytes`. Concurrent requests for one adapter share one
 * load; a failed load is not cached.
 */
export class AdapterCache {
  /** Insertion order is recency order: a hit moves the entry to the end. */
  private readonly entries = new Map<string, { adapter: LoraAdapter; bytes: number }>();
  private readonly loading = new Map<string, Promise<LoraAdapter>>();
  private total = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly load: (id: string) => Promise<LoraAdapter>,
  ) {}

  get bytes(): number {
    return this.total;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The ids held, least recently used first. */
  ids(): string[] {
    return [...this.entries.keys()];
  }

  async get(id: string): Promise<LoraAdapter> {
    const entry = this.entries.get(id);
    if (entry) {
      this.hits++;
      this.entries.delete(id);
      this.entries.set(id, entry);
      return entry.adapter;
    }
    const pending = this.loading.get(id);
    if (pending) return pending;
    this.misses++;
    const loaded = this.load(id)
      .then((adapter) => {
        // Evicted while it loaded: the caller gets what it asked for, the cache keeps nothing.
        if (this.loading.get(id) === loaded) this.insert(id, adapter);
        return adapter;
      })
      .finally(() => {
        if (this.loading.get(id) === loaded) this.loading.delete(id);
      });
    this.loading.set(id, loaded);
    return loaded;
  }

  /** Drops an adapter (its version was archived, deleted or made stale, or a slot now holds it); whether it was held. */
  evict(id: string): boolean {
    // A load under way for it will not be kept either.
    const wasLoading = this.loading.delete(id);
    const entry = this.entries.get(id);
    if (!entry) return wasLoading;
    this.entries.delete(id);
    this.total -= entry.bytes;
    return true;
  }

  private insert(id: string, adapter: LoraAdapter): void {
    const bytes = adapterBytes(adapter);
    this.evict(id);
    this.entries.set(id, { adapter, bytes });
    this.total += bytes;
    // The newest entry stays even when it alone exceeds the budget: it is about to be used.
    for (const [oldest] of this.entries) {
      if (this.total <= this.maxBytes || oldest === id) break;
      this.evict(oldest);
    }
  }
}
