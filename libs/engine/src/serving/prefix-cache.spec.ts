import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DecoderConfig } from '../model/decoder-config.js';
import { KvBlocks } from './kv-blocks.js';
import { changesKv, PrefixCache, prefixNamespace } from './prefix-cache.js';

const config: DecoderConfig = {
  architecture: 'llama',
  vocabSize: 16,
  dModel: 8,
  nLayers: 3,
  nHeads: 2,
  nKvHeads: 1,
  ffnDim: 16,
  maxPositions: 64,
  normEps: 1e-5,
  ropeTheta: 10000,
  tieEmbeddings: true,
};
const on = (...keys: string[]): string[] => keys;

describe('prefix cache keys', () => {
  it('counts an adapter as changing the cache when it reaches any layer’s keys or values', () => {
    assert.equal(changesKv(config, on('layers.2.self_attn.q_proj', 'layers.2.mlp.down_proj')), false);
    assert.equal(changesKv(config, on('layers.2.self_attn.v_proj')), true);
    assert.equal(changesKv(config, on('layers.1.self_attn.q_proj')), true, 'feeds layer 2’s keys');
    assert.equal(changesKv({ ...config, nLayers: 1 } as DecoderConfig, on('layers.0.self_attn.q_proj')), false);
  });

  it('keys by scope and by the adapters (and gates) that change keys and values, nothing else', () => {
    const key = (scope: string, adapters: [string, number, string[]][], routing?: unknown) =>
      prefixNamespace(
        config,
        scope,
        adapters.map(([id, weight, projections]) => ({ id, weight, projections })),
        routing,
      ).key;
    const kv = on('layers.0.self_attn.k_proj');
    const lastQuery = on('layers.2.self_attn.q_proj');
    assert.notEqual(key('a', []), key('b', []));
    assert.notEqual(key('a', [['x', 1, kv]]), key('a', []));
    assert.notEqual(key('a', [['x', 1, kv]]), key('a', [['y', 1, kv]]));
    assert.notEqual(key('a', [['x', 1, kv]]), key('a', [['x', 0.5, kv]]));
    assert.notEqual(key('a', [['x', 1, kv]]), key('a', [['x', 1, kv]], { kind: 'learned' }));
    assert.equal(key('a', [['q', 1, lastQuery]]), key('a', []));
    assert.equal(key('a', []), key('a', [], { kind: 'learned' }));
  });
});

describe('PrefixCache', () => {
  const blocks = () => new KvBlocks(config, { blockSize: 2, budgetTokens: 8 });

  it('chains block keys over every token so far, up to the block before the last token', () => {
    const cache = new PrefixCache(blocks());
    const a = cache.keys('ns', [1, 2, 3, 4, 5]);
    assert.equal(a.length, 2);
    assert.equal(cache.keys('ns', [1, 2, 3, 4]).length, 1, 'the last token is always computed');
    assert.deepEqual(cache.keys('ns', [1, 2, 3, 4, 9]), a);
    assert.equal(cache.keys('ns', [1, 2, 9, 4, 5])[0], a[0]);
    assert.notEqual(cache.keys('ns', [1, 2, 9, 4, 5])[1], a[1]);
    assert.notEqual(cache.keys('other', [1, 2, 3, 4, 5])[0], a[0]);
  });

  it('returns the longest cached prefix, evicts least recently used blocks nobody else holds, and drops by adapter', () => {
    const kv = blocks();
    const cache = new PrefixCache(kv);
    const [k1, k2, k3] = cache.keys('ns', [1, 2, 3, 4, 5, 6, 7]);
    const [b1, b2, b3] = [kv.allocate()!, kv.allocate()!, kv.allocate()!];
    cache.insert(k1!, b1, []);
    cache.insert(k2!, b2, ['adapter-x']);
    for (const block of [b1, b2]) kv.release(block); // the rows that filled them ended
    assert.deepEqual(cache.lookup([k1!, k3!, k2!]), [b1], 'a hit stops at the first miss');
    assert.equal(cache.evictable(), 1, 'block 1 is in use by the caller');
    assert.equal(cache.evictOne(), true);
    assert.equal(kv.referencesOf(b2), 0, 'the unused block went');
    assert.equal(cache.evictOne(), false);
    kv.release(b1);
    cache.insert(k3!, b3, ['adapter-x']);
    kv.release(b3);
    assert.equal(
      cache.drop((id) => id === 'adapter-x'),
      1,
    );
    assert.deepEqual(cache.lookup([k3!]), []);
    assert.equal(cache.size, 1);
  });
});
