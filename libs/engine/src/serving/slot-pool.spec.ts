import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoraAdapter } from '../adapter/lora-adapter.js';
import { projectionKey, projectionShape, targetModules, type DecoderConfig } from '../model/decoder-config.js';
import { randomArray, seededRandom } from '../testing/random.js';
import { SlotPool } from './slot-pool.js';

const config: DecoderConfig = {
  architecture: 'gpt2',
  vocabSize: 257,
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
  maxPositions: 16,
  normEps: 1e-5,
};
const modules = targetModules(config);
const RANK = 2;

function adapter(seed: number): LoraAdapter {
  const random = seededRandom(seed);
  const factors = new Map();
  for (const module of modules) {
    const [dIn, dOut] = projectionShape(config, module);
    factors.set(projectionKey(config, 0, module), {
      a: randomArray(random, dIn * RANK, 0.3),
      b: randomArray(random, RANK * dOut, 0.3),
    });
  }
  return { rank: RANK, alpha: 4, targetModules: [...modules], factors };
}

/** The sum of |x| over one slot's factors in every projection: 0 only when the slot holds nothing. */
function slotMass(pool: SlotPool, slot: number): number {
  let mass = 0;
  for (const [name, tensor] of Object.entries(pool.feeds())) {
    if (!name.endsWith('A') && !name.endsWith('B')) continue;
    const data = tensor.data as Float32Array;
    const size = data.length / pool.options.slots;
    for (let i = slot * size; i < (slot + 1) * size; i++) mass += Math.abs(data[i]!);
  }
  return mass;
}

describe('SlotPool.evict', () => {
  it('zeroes an unpinned slot whose adapter matches, and leaves the others', () => {
    const pool = new SlotPool(config, { slots: 4, rank: RANK, modules });
    const [stale, kept] = pool.acquireAll(['adv_stale', 'adv_kept'], (i) => adapter(i + 1));
    pool.release(stale!);
    pool.release(kept!);
    assert.ok(slotMass(pool, stale!) > 0);
    assert.equal(
      pool.evict((id) => id === 'adv_stale'),
      1,
    );
    assert.equal(slotMass(pool, stale!), 0, 'the stale factors are gone from memory, not only forgotten');
    assert.ok(slotMass(pool, kept!) > 0);
    assert.deepEqual(pool.residents().filter(Boolean), ['adv_kept']);
    // Asked for again, it loads anew (from whatever the caller now gives).
    const loadsBefore = pool.loads;
    pool.release(pool.acquire('adv_stale', () => adapter(9)));
    assert.equal(pool.loads, loadsBefore + 1);
  });

  it('empties a pinned slot when its request releases it, and never hands it out meanwhile', () => {
    const pool = new SlotPool(config, { slots: 3, rank: RANK, modules });
    const slot = pool.acquire('cmp/cmp_1/adv_stale', () => adapter(1));
    assert.equal(
      pool.evict((id) => id.includes('adv_stale')),
      1,
    );
    assert.ok(slotMass(pool, slot) > 0, 'the running request keeps its weights until it ends');
    const other = pool.acquire('adv_other', () => adapter(2));
    assert.notEqual(other, slot);
    assert.equal(pool.canAcquire(['adv_third']), false, 'the evicting slot is not spare');
    assert.throws(
      () => pool.acquire('cmp/cmp_1/adv_stale', () => adapter(3)),
      /pinned/,
      'not found resident under its old id',
    );
    pool.release(slot);
    assert.equal(slotMass(pool, slot), 0, 'emptied on release');
    assert.deepEqual(pool.residents(), [null, null, 'adv_other']);
    const loadsBefore = pool.loads;
    assert.equal(
      pool.acquire('cmp/cmp_1/adv_stale', () => adapter(3)),
      slot,
    );
    assert.equal(pool.loads, loadsBefore + 1, 'a fresh load');
  });
});

describe('SlotPool.activeFeeds', () => {
  it("marks active exactly the projections the given slots' adapters adapt, and none once they are evicted", () => {
    const pool = new SlotPool(config, { slots: 4, rank: RANK, modules });
    const keys = modules.map((module) => projectionKey(config, 0, module));
    const full = adapter(1);
    const partial = { ...adapter(2), factors: new Map([...adapter(2).factors].filter(([key]) => key === keys[1])) };
    const [fullSlot, partialSlot] = pool.acquireAll(['adv_full', 'adv_partial'], (i) => (i === 0 ? full : partial));
    const active = (slots: number[]) =>
      keys.filter((key) => (pool.activeFeeds(slots)[`lora.${key}.active`]!.data as Uint8Array)[0] === 1);
    assert.deepEqual(active([0, 0]), [], 'slot 0 (the base) adapts nothing');
    assert.deepEqual(active([partialSlot!, 0]), [keys[1]]);
    assert.deepEqual(active([partialSlot!, fullSlot!]), keys);
    pool.release(fullSlot!);
    pool.evict((id) => id === 'adv_full');
    assert.deepEqual(active([partialSlot!, fullSlot!]), [keys[1]], 'an emptied slot adapts nothing');
  });
});
