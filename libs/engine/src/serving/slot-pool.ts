import type { Tensor as OrtTensor } from 'onnxruntime-node';
import type { LoraAdapter } from '../adapter/lora-adapter.js';
import { adapterPrototype } from '../adapter/arrow-prototype.js';
import { slotFactors } from '../adapter/slot-factors.js';
import { boolTensor, float32Tensor } from '../graph/onnx-session.js';
import { projectionKey, projectionShape, type DecoderConfig, type TargetModule } from '../model/decoder-config.js';
import { loraInputName } from '../model/decoder.js';

export interface SlotPoolOptions {
  /** Slots including slot 0, the zero adapter (base model only). */
  slots: number;
  rank: number;
  modules: readonly TargetModule[];
  /** Also hold each slot's router vectors (for graphs built with `lora.router`). */
  router?: boolean;
  /**
   * Called once an adapter's factors are in a slot. A host cache in front of the pool drops its
   * copy here: the slot is then the only one (on CPU it is read as fast), and an adapter that
   * later leaves its slot is read from storage again.
   */
  onLoaded?: (adapterId: string) => void;
}

/**
 * The adapter slots one forward pass can use: stacked A [S, dIn, R] and B [S, R, dOut] per
 * targeted projection, fed to the graph as inputs. Slots are filled on demand, evicted
 * least-recently-used, and pinned while a request runs on them.
 */
export class SlotPool {
  private readonly pools = new Map<
    string,
    { a: Float32Array; b: Float32Array; router: Float32Array | null; dIn: number; dOut: number }
  >();
  private readonly adapterInSlot: (string | null)[];
  /** The projections each slot's adapter adapts (the others' factors are zero). */
  private readonly projections: string[][];
  private readonly pins: number[];
  private readonly lastUsed: number[];
  /** Slots to empty as soon as the request running on them releases them. */
  private readonly evictOnRelease = new Set<number>();
  private clock = 0;
  /** Adapters loaded into a slot since the pool was made (a cold load each). */
  loads = 0;

  constructor(
    private readonly config: DecoderConfig,
    readonly options: SlotPoolOptions,
  ) {
    if (options.slots < 2) throw new Error('a slot pool needs slot 0 (base) and at least one adapter slot');
    for (let layer = 0; layer < config.nLayers; layer++) {
      for (const module of options.modules) {
        const [dIn, dOut] = projectionShape(config, module);
        this.pools.set(projectionKey(config, layer, module), {
          a: new Float32Array(options.slots * dIn * options.rank),
          b: new Float32Array(options.slots * options.rank * dOut),
          router: options.router ? new Float32Array(options.slots * dIn) : null,
          dIn,
          dOut,
        });
      }
    }
    this.adapterInSlot = Array(options.slots).fill(null);
    this.projections = Array.from({ length: options.slots }, () => []);
    this.pins = Array(options.slots).fill(0);
    this.lastUsed = Array(options.slots).fill(0);
  }

  /** Whether a slot holds the adapter (one evicted but still pinned does not count). */
  holds(adapterId: string): boolean {
    return this.adapterInSlot.indexOf(adapterId) > 0;
  }

  /** The projections the adapter in a slot adapts (empty when no slot holds it). */
  projectionsOf(adapterId: string): readonly string[] {
    const slot = this.adapterInSlot.indexOf(adapterId);
    return slot > 0 ? this.projections[slot]! : [];
  }

  /** Whether `acquireAll` can succeed now: enough unpinned slots hold none of them for those not resident. */
  canAcquire(adapterIds: readonly string[]): boolean {
    const missing = adapterIds.filter((id) => !this.adapterInSlot.includes(id)).length;
    let spare = 0;
    for (let slot = 1; slot < this.options.slots; slot++)
      if (this.pins[slot] === 0 && !adapterIds.includes(this.adapterInSlot[slot]!)) spare++;
    return missing <= spare;
  }

  /** The slots of a request's adapters, in order: resident ones are pinned first, so loading the others cannot evict them. */
  acquireAll(adapterIds: readonly string[], adapter: (index: number) => LoraAdapter): number[] {
    const slots: number[] = [];
    const order = adapterIds
      .map((_, i) => i)
      .sort(
        (i, j) =>
          Number(!this.adapterInSlot.includes(adapterIds[i]!)) - Number(!this.adapterInSlot.includes(adapterIds[j]!)),
      );
    for (const i of order) slots[i] = this.acquire(adapterIds[i]!, () => adapter(i));
    return slots;
  }

  /** The slot holding `adapterId`, loading it (evicting the least recently used unpinned slot) if needed; pinned until release. */
  acquire(adapterId: string, adapter: () => LoraAdapter): number {
    let slot = this.adapterInSlot.indexOf(adapterId);
    if (slot < 1) {
      const free = this.freeSlot();
      if (free === null) throw new Error('every adapter slot is pinned by a running request');
      slot = free;
      this.load(slot, adapter());
      this.adapterInSlot[slot] = adapterId;
      this.options.onLoaded?.(adapterId);
    }
    this.pins[slot]!++;
    this.lastUsed[slot] = ++this.clock;
    return slot;
  }

  release(slot: number): void {
    if (slot > 0 && this.pins[slot]! > 0) this.pins[slot]!--;
    if (this.pins[slot] === 0 && this.evictOnRelease.delete(slot)) this.empty(slot);
  }

  /**
   * Empties every slot whose adapter id `matches` (a deletion made those weights stale): the
   * factors are zeroed, not just forgotten. A slot a running request holds is emptied when
   * that request releases it; until then no new request can acquire it. Returns how many
   * slots held a match.
   */
  evict(matches: (adapterId: string) => boolean): number {
    let found = 0;
    for (let slot = 1; slot < this.options.slots; slot++) {
      const id = this.adapterInSlot[slot];
      if (id === null || id === undefined || !matches(id)) continue;
      found++;
      if (this.pins[slot] === 0) this.empty(slot);
      else {
        this.evictOnRelease.add(slot);
        // Renamed so that no later request finds it resident under its old id.
        this.adapterInSlot[slot] = `evicted:${id}`;
      }
    }
    return found;
  }

  /** The adapter id in each slot (slot 0, the base, is null): what a test or a metric can check. */
  residents(): readonly (string | null)[] {
    return [...this.adapterInSlot];
  }

  private empty(slot: number): void {
    const { rank } = this.options;
    for (const pool of this.pools.values()) {
      pool.a.fill(0, slot * pool.dIn * rank, (slot + 1) * pool.dIn * rank);
      pool.b.fill(0, slot * rank * pool.dOut, (slot + 1) * rank * pool.dOut);
      pool.router?.fill(0, slot * pool.dIn, (slot + 1) * pool.dIn);
    }
    this.adapterInSlot[slot] = null;
    this.projections[slot] = [];
    this.lastUsed[slot] = 0;
  }

  /** The pool tensors by graph input name; they wrap the pool's arrays without copying. `withRouters`: for a graph built with lora.router. */
  feeds(withRouters = true): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = {};
    for (const [key, pool] of this.pools) {
      feeds[loraInputName(key, 'A')] = float32Tensor(pool.a, [this.options.slots, pool.dIn, this.options.rank]);
      feeds[loraInputName(key, 'B')] = float32Tensor(pool.b, [this.options.slots, this.options.rank, pool.dOut]);
      if (pool.router && withRouters)
        feeds[loraInputName(key, 'router')] = float32Tensor(pool.router, [this.options.slots, pool.dIn]);
    }
    return feeds;
  }

  /**
   * `lora.<key>.active` for a pass over these slots (graphs built with lora.skipUntouched): true
   * where any of their adapters adapts the projection; elsewhere every slot's factors are zero.
   */
  activeFeeds(slots: Iterable<number>): Record<string, OrtTensor> {
    const touched = new Set<string>();
    for (const slot of slots) for (const key of this.projections[slot] ?? []) touched.add(key);
    const feeds: Record<string, OrtTensor> = {};
    for (const key of this.pools.keys()) feeds[loraInputName(key, 'active')] = boolTensor([touched.has(key)], []);
    return feeds;
  }

  private freeSlot(): number | null {
    let best: number | null = null;
    for (let slot = 1; slot < this.options.slots; slot++) {
      if (this.pins[slot]! > 0 || this.evictOnRelease.has(slot)) continue;
      if (this.adapterInSlot[slot] === null) return slot;
      if (best === null || this.lastUsed[slot]! < this.lastUsed[best]!) best = slot;
    }
    return best;
  }

  private load(slot: number, adapter: LoraAdapter): void {
    const { rank } = this.options;
    for (const [key, pool] of this.pools) {
      const { a, b } = slotFactors(adapter, key, pool.dIn, pool.dOut, rank);
      pool.a.set(a, slot * pool.dIn * rank);
      pool.b.set(b, slot * rank * pool.dOut);
      pool.router?.set(routerVector(adapter, key, pool.dIn), slot * pool.dIn);
    }
    this.projections[slot] = [...adapter.factors.keys()];
    this.loads++;
  }
}

/** A slot's router vector: the adapter's learned one, else its Arrow prototype (zeros where it does not adapt). */
function routerVector(adapter: LoraAdapter, key: string, dIn: number): Float32Array {
  const learned = adapter.routers?.get(key);
  if (learned) return learned;
  return adapterPrototype(adapter, key) ?? new Float32Array(dIn);
}
