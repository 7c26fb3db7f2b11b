import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { float32Tensor } from '../graph/onnx-session.js';
import type { DecoderConfig } from '../model/decoder-config.js';
import { cacheName } from '../model/decoder.js';
import { KvBlocks } from './kv-blocks.js';

const config: DecoderConfig = {
  architecture: 'llama',
  vocabSize: 16,
  dModel: 8,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  ffnDim: 16,
  maxPositions: 64,
  normEps: 1e-5,
  ropeTheta: 10000,
  tieEmbeddings: true,
};
const KV = 2;
const HD = 2;

/** new.<i>.key|value [B, KV, T, hd] whose entries encode (layer·2+part, row, head, token, i). */
function newKv(rows: number, tokens: number) {
  const kv: Record<string, ReturnType<typeof float32Tensor>> = {};
  for (let i = 0; i < config.nLayers * 2; i++) {
    const data = new Float32Array(rows * KV * tokens * HD);
    data.forEach((_, j) => (data[j] = i * 10000 + j));
    kv[cacheName('new', i >> 1, i & 1 ? 'value' : 'key')] = float32Tensor(data, [rows, KV, tokens, HD]);
  }
  return kv;
}

describe('KvBlocks', () => {
  it('hands out every block once, counts references and frees a block with its last one', () => {
    const blocks = new KvBlocks(config, { blockSize: 4, budgetTokens: 10 });
    assert.equal(blocks.blockCount, 3);
    const taken = [blocks.allocate(), blocks.allocate(), blocks.allocate()];
    assert.deepEqual([...taken].sort(), [0, 1, 2]);
    assert.equal(blocks.allocate(), null);
    blocks.retain(taken[0]!);
    blocks.release(taken[0]!);
    assert.equal(blocks.freeBlocks, 0, 'a block with a reference left is not free');
    blocks.release(taken[0]!);
    assert.equal(blocks.freeBlocks, 1);
    assert.throws(() => blocks.release(taken[0]!), /already free/);
    assert.equal(blocks.allocate(), taken[0]);
  });

  it("writes each row's new entries at its positions, across block boundaries, and feeds them where kv_index points", () => {
    const blocks = new KvBlocks(config, { blockSize: 2, budgetTokens: 16 });
    const rows = [
      { blocks: [5, 1, 6], from: 1, count: 3 }, // positions 1-3: block 5 slot 1, block 1 slots 0-1
      { blocks: [2], from: 0, count: 2 }, // padded to 3 tokens in the pass
    ];
    blocks.write(newKv(2, 3), rows);
    const feeds = blocks.feeds([
      [blocks.slotOf(rows[0]!.blocks, 1), blocks.slotOf(rows[0]!.blocks, 3)],
      [blocks.slotOf(rows[1]!.blocks, 1), 0],
    ]);
    assert.deepEqual(feeds.kv_index!.dims, [2, 2]);
    const pool = feeds[cacheName('past', 1, 'value')]!;
    assert.deepEqual(pool.dims, [KV, 16, HD]);
    const data = pool.data as Float32Array;
    // Entry (row r, head h, token t) of layer 1's values (i = 3) sits at pool[h, slot].
    const entry = (r: number, h: number, t: number) => 30000 + ((r * KV + h) * 3 + t) * HD;
    const at = (h: number, slot: number) => data[(h * 16 + slot) * HD];
    assert.equal(at(1, 5 * 2 + 1), entry(0, 1, 0));
    assert.equal(at(0, 1 * 2 + 1), entry(0, 0, 2));
    assert.equal(at(1, 2 * 2 + 1), entry(1, 1, 1));
    assert.deepEqual(blocks.index([2], 2, 4), [4, 5, 0, 0]);
  });

  it('states the bytes one token of context takes', () => {
    assert.equal(KvBlocks.bytesPerToken(config), 2 * 2 * KV * HD * 4);
  });
});
