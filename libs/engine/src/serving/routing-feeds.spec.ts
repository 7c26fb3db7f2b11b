import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DecoderConfig } from '../model/decoder-config.js';
import type { DecoderSession } from '../model/decoder-session.js';
import { routingFeeds } from './routing-feeds.js';
import { SlotPool } from './slot-pool.js';

const config: DecoderConfig = {
  architecture: 'gpt2',
  vocabSize: 16,
  dModel: 8,
  nLayers: 1,
  nHeads: 2,
  maxPositions: 16,
  normEps: 1e-5,
};
/** The only part of a session the feeds read: whether its graph routes tokens. */
const sessionThat = (router: boolean) =>
  ({ graph: { lora: { modules: [], rank: 2, router } } }) as unknown as DecoderSession;
const pool = (router: boolean) => new SlotPool(config, { slots: 4, rank: 2, modules: ['attn.c_attn'], router });

describe('routingFeeds', () => {
  it('pads every row to the most adapters any row mixes with slot 0 at gate 0, gates repeated over tokens', () => {
    const feeds = routingFeeds(
      pool(false),
      sessionThat(false),
      [
        { slots: [2, 3], weights: [0.7, -0.4] },
        { slots: [], weights: [] },
        { slots: [1], weights: [1] },
      ],
      2,
    );
    assert.deepEqual(feeds.slots!.dims, [3, 2]);
    assert.deepEqual([...(feeds.slots!.data as BigInt64Array)].map(Number), [2, 3, 0, 0, 1, 0]);
    assert.deepEqual(feeds.gates!.dims, [3, 2, 2]);
    assert.deepEqual(
      [...(feeds.gates!.data as Float32Array)].map((g) => Math.round(g * 10) / 10),
      [0.7, -0.4, 0.7, -0.4, 0, 0, 0, 0, 1, 0, 1, 0],
    );
    assert.ok(feeds['lora.h.0.attn.c_attn.A'], 'the pool is fed');
    assert.equal(feeds.router_top_k, undefined, 'a graph without the router takes no router inputs');
  });

  it("marks a token-routed row's adapters with gate 1 and gives the router its top-k and |score| switch per row", () => {
    const feeds = routingFeeds(
      pool(true),
      sessionThat(true),
      [
        { slots: [1, 2, 3], weights: [0.2, 0.3, 0.5], tokenRouting: { kind: 'arrow', topK: 5 } },
        { slots: [1, 2], weights: [1, 1], tokenRouting: { kind: 'learned' } },
        { slots: [3], weights: [0.5] },
      ],
      1,
    );
    assert.deepEqual([...(feeds.gates!.data as Float32Array)], [1, 1, 1, 1, 1, 0, 0.5, 0, 0]);
    assert.deepEqual([...(feeds.router_top_k!.data as Float32Array)], [3, 2, 0], 'top-k capped at the adapters mixed');
    assert.deepEqual([...(feeds.router_abs!.data as Float32Array)], [1, 0, 0]);
  });
});
