import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSession, float32Tensor, int64Tensor } from '../graph/onnx-session.js';
import { referenceGpt2Logits } from '../reference/reference-decoder.js';
import type { LoraPool } from '../reference/reference-lora.js';
import { maxAbsDiff, randomArray, seededRandom } from '../testing/random.js';
import { GPT2_TARGET_MODULES, gpt2WeightShapes, projectionShape, type DecoderConfig, type DecoderWeights } from './decoder-config.js';
import { buildGpt2PrefillGraph, loraInputName } from './decoder.js';

const config: DecoderConfig = { architecture: 'gpt2', vocabSize: 61, dModel: 32, nLayers: 2, nHeads: 4, maxPositions: 16, layerNormEps: 1e-5 };

/** Every weight random, norms included, at a scale that keeps activations O(1). */
function testWeights(seed: number): DecoderWeights {
  const random = seededRandom(seed);
  const weights: DecoderWeights = new Map();
  for (const [name, shape] of gpt2WeightShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = randomArray(random, size, name.includes('ln_') ? 0.5 : 0.15);
    if (name.includes('ln_') && name.endsWith('.weight')) for (let i = 0; i < size; i++) data[i]! += 1;
    weights.set(name, data);
  }
  return weights;
}

const ids = [
  [5, 17, 3, 60, 0, 42, 9],
  [1, 1, 2, 3, 5, 8, 13],
];
const B = ids.length;
const T = ids[0]!.length;

describe('GPT-2 prefill graph', () => {
  const weights = testWeights(11);

  it('matches the TypeScript reference forward (fp32, max abs error < 1e-4)', async () => {
    const session = await createSession(buildGpt2PrefillGraph(config, weights), { threads: 1 });
    const { logits } = await session.run({ input_ids: int64Tensor(ids.flat(), [B, T]) });
    assert.deepEqual(logits!.dims, [B, T, config.vocabSize]);
    const diff = maxAbsDiff(logits!.data as Float32Array, referenceGpt2Logits(config, weights, ids));
    assert.ok(diff < 1e-4, `max abs diff ${diff}`);
  });

  it('is causal: a later token does not change earlier logits', async () => {
    const session = await createSession(buildGpt2PrefillGraph(config, weights), { threads: 1 });
    const changed = ids.map((row) => [...row.slice(0, -1), (row.at(-1)! + 1) % config.vocabSize]);
    const a = (await session.run({ input_ids: int64Tensor(ids.flat(), [B, T]) })).logits!.data as Float32Array;
    const b = (await session.run({ input_ids: int64Tensor(changed.flat(), [B, T]) })).logits!.data as Float32Array;
    for (let row = 0; row < B; row++) {
      const prefix = (x: Float32Array) => x.subarray(row * T * config.vocabSize, (row * T + T - 1) * config.vocabSize);
      assert.ok(maxAbsDiff(prefix(a), prefix(b)) < 1e-6);
    }
  });

  it('serves rows on different adapters in one pass, matching the reference with LoRA on every projection', async () => {
    const rank = 4;
    const slotsInPool = 5;
    const random = seededRandom(23);
    const feeds: Record<string, ReturnType<typeof float32Tensor>> = {};
    const pools = new Map<string, LoraPool>();
    for (let layer = 0; layer < config.nLayers; layer++) {
      for (const module of GPT2_TARGET_MODULES) {
        const [dIn, dOut] = projectionShape(config, module);
        const a = randomArray(random, slotsInPool * dIn * rank, 0.2);
        const b = randomArray(random, slotsInPool * rank * dOut, 0.2);
        a.fill(0, 0, dIn * rank); // slot 0: the zero adapter
        b.fill(0, 0, rank * dOut);
        pools.set(`h.${layer}.${module}`, { a, b, slots: slotsInPool, rank, dIn, dOut });
        feeds[loraInputName(layer, module, 'A')] = float32Tensor(a, [slotsInPool, dIn, rank]);
        feeds[loraInputName(layer, module, 'B')] = float32Tensor(b, [slotsInPool, rank, dOut]);
      }
    }
    const slots = [
      [1, 3],
      [4, 0],
    ];
    const gates = randomArray(random, B * T * 2, 1).map(Math.abs);
    const graph = buildGpt2PrefillGraph(config, weights, { modules: GPT2_TARGET_MODULES, rank });
    const session = await createSession(graph, { threads: 1 });
    const { logits } = await session.run({
      ...feeds,
      input_ids: int64Tensor(ids.flat(), [B, T]),
      slots: int64Tensor(slots.flat(), [B, 2]),
      gates: float32Tensor(gates, [B, T, 2]),
    });
    const reference = referenceGpt2Logits(config, weights, ids, { pools, slots, gates });
    const diff = maxAbsDiff(logits!.data as Float32Array, reference);
    assert.ok(diff < 1e-4, `max abs diff ${diff}`);
    const base = referenceGpt2Logits(config, weights, ids);
    assert.ok(maxAbsDiff(reference, base) > 1e-2, 'the adapters changed nothing: the check would be vacuous');
  });
});
