import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoraAdapter } from '../adapter/lora-adapter.js';
import { AdapterCache, adapterBytes } from './adapter-cache.js';

/** An adapter of exactly `kib` KiB of factors. */
function adapterOf(kib: number): LoraAdapter {
  return {
    rank: 1,
    alpha: 1,
    targetModules: ['attn.c_attn'],
    factors: new Map([['h.0.attn.c_attn', { a: new Float32Array(128 * kib), b: new Float32Array(128 * kib) }]]),
  };
}

describe('AdapterCache', () => {
  it('keeps adapters within a byte budget, evicting the least recently used', async () => {
    const loads: string[] = [];
    const cache = new AdapterCache(3 * 1024, async (id) => {
      loads.push(id);
      return adapterOf(1);
    });
    assert.equal(adapterBytes(adapterOf(1)), 1024);
    for (const id of ['a', 'b', 'c']) await cache.get(id);
    await cache.get('a'); // a is now the most recent; b the least
    await cache.get('d');
    assert.equal(cache.bytes, 3 * 1024);
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((id) => cache.has(id)),
      [true, false, true, true],
    );
    await cache.get('b');
    assert.deepEqual(loads, ['a', 'b', 'c', 'd', 'b']);
    assert.equal(cache.hits, 1);
    assert.equal(cache.misses, 5);
  });

  it('keeps nothing of a load that was under way when its adapter was evicted (a deletion made it stale)', async () => {
    let loads = 0;
    const cache = new AdapterCache(1 << 20, async () => {
      loads++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return adapterOf(1);
    });
    const pending = cache.get('stale');
    assert.equal(cache.evict('stale'), true, 'it was loading');
    await pending;
    assert.deepEqual([cache.has('stale'), cache.bytes], [false, 0]);
    await cache.get('stale');
    assert.equal(loads, 2, 'asked again, it loads anew');
  });

  it('shares one load between concurrent requests and does not keep a failure', async () => {
    let calls = 0;
    let fail = true;
    const cache = new AdapterCache(1 << 20, async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (fail) throw new Error('blob store unreachable');
      return adapterOf(1);
    });
    const [first, second] = await Promise.allSettled([cache.get('x'), cache.get('x')]);
    assert.equal(first.status, 'rejected');
    assert.equal(second.status, 'rejected');
    assert.equal(calls, 1);
    fail = false;
    const [a, b] = await Promise.all([cache.get('x'), cache.get('x')]);
    assert.equal(a, b);
    assert.equal(calls, 2);
  });

  it('keeps an adapter larger than the whole budget until the next one arrives', async () => {
    const cache = new AdapterCache(1024, async (id) => adapterOf(id === 'big' ? 4 : 1));
    await cache.get('small');
    await cache.get('big');
    assert.deepEqual([cache.has('small'), cache.has('big')], [false, true]);
    await cache.get('small');
    assert.deepEqual([cache.has('small'), cache.has('big')], [true, false]);
  });
});
