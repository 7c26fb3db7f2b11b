import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maxAbsDiff, randomArray, seededRandom } from '../testing/random.js';
import { float32Tensor, int64Tensor } from '../graph/onnx-session.js';
import { DecoderSession } from '../model/decoder-session.js';
import { randomWeights } from '../testing/random.js';
import { SlotPool } from '../serving/slot-pool.js';
import type { DecoderConfig } from '../model/decoder-config.js';
import type { LoraAdapter } from './lora-adapter.js';
import { deltaWeight, mergeAdapters, mergeProblems } from './lora-merge.js';

const [D_IN, D_OUT] = [6, 5];
function randomAdapter(
  seed: number,
  rank: number,
  alpha: number,
  keys = ['h.0.attn.c_attn', 'h.1.attn.c_attn'],
): LoraAdapter {
  const random = seededRandom(seed);
  return {
    rank,
    alpha,
    targetModules: ['attn.c_attn'],
    factors: new Map(
      keys.map((key) => [key, { a: randomArray(random, D_IN * rank, 1), b: randomArray(random, rank * D_OUT, 1) }]),
    ),
  };
}
const sumOf = (parts: Float32Array[]) => parts.reduce((sum, p) => sum.map((x, i) => x + p[i]!));
const scaled = (t: Float32Array, s: number) => t.map((x) => x * s);

describe('weight-space merges (PEFT add_weighted_adapter)', () => {
  it('cat: ΔW of the merge is exactly Σ wᵢ·ΔWᵢ, any ranks and signs, projections only one adapter has included', () => {
    const first = randomAdapter(1, 2, 4);
    const second = randomAdapter(2, 3, 3, ['h.0.attn.c_attn', 'h.2.attn.c_attn']);
    const merged = mergeAdapters([first, second], [0.7, -0.4], 'cat');
    assert.equal(merged.rank, 5);
    assert.equal(merged.alpha, 5);
    assert.deepEqual([...merged.factors.keys()], ['h.0.attn.c_attn', 'h.1.attn.c_attn', 'h.2.attn.c_attn']);
    const both = sumOf([
      scaled(deltaWeight(first, 'h.0.attn.c_attn'), 0.7),
      scaled(deltaWeight(second, 'h.0.attn.c_attn'), -0.4),
    ]);
    assert.ok(maxAbsDiff(deltaWeight(merged, 'h.0.attn.c_attn'), both) < 1e-5);
    assert.ok(
      maxAbsDiff(deltaWeight(merged, 'h.1.attn.c_attn'), scaled(deltaWeight(first, 'h.1.attn.c_attn'), 0.7)) < 1e-5,
    );
    assert.ok(
      maxAbsDiff(deltaWeight(merged, 'h.2.attn.c_attn'), scaled(deltaWeight(second, 'h.2.attn.c_attn'), -0.4)) < 1e-5,
    );
  });

  it('linear: one adapter at weight 1 is itself; two combine A and B by √(w·α/r) each, as PEFT does', () => {
    const first = randomAdapter(3, 2, 8);
    const second = randomAdapter(4, 2, 2);
    const alone = mergeAdapters([first], [1], 'linear');
    for (const key of first.factors.keys())
      assert.ok(maxAbsDiff(deltaWeight(alone, key), deltaWeight(first, key)) < 1e-5);
    const merged = mergeAdapters([first, second], [0.6, 0.3], 'linear');
    const [c1, c2] = [Math.sqrt(0.6 * 4), Math.sqrt(0.3 * 1)];
    for (const key of first.factors.keys()) {
      const f1 = first.factors.get(key)!;
      const f2 = second.factors.get(key)!;
      assert.ok(
        maxAbsDiff(
          merged.factors.get(key)!.a,
          f1.a.map((x, i) => c1 * x + c2 * f2.a[i]!),
        ) < 1e-6,
      );
      assert.ok(
        maxAbsDiff(
          merged.factors.get(key)!.b,
          f1.b.map((x, i) => c1 * x + c2 * f2.b[i]!),
        ) < 1e-6,
      );
    }
  });

  it('a negative weight negates the adapter: sign(w·s)·√|w·s| on A, √|w·s| on B, so its ΔW enters subtracted', () => {
    const first = randomAdapter(3, 2, 8);
    const second = randomAdapter(4, 2, 2);
    const merged = mergeAdapters([first, second], [0.6, -0.3], 'linear');
    const [c1, c2] = [Math.sqrt(0.6 * 4), Math.sqrt(0.3 * 1)];
    for (const key of first.factors.keys()) {
      const f1 = first.factors.get(key)!;
      const f2 = second.factors.get(key)!;
      assert.ok(
        maxAbsDiff(
          merged.factors.get(key)!.a,
          f1.a.map((x, i) => c1 * x - c2 * f2.a[i]!),
        ) < 1e-6,
      );
      assert.ok(
        maxAbsDiff(
          merged.factors.get(key)!.b,
          f1.b.map((x, i) => c1 * x + c2 * f2.b[i]!),
        ) < 1e-6,
      );
    }
    // Negating one adapter alone negates its ΔW exactly.
    const negated = mergeAdapters([first], [-1], 'linear');
    for (const key of first.factors.keys())
      assert.ok(maxAbsDiff(deltaWeight(negated, key), scaled(deltaWeight(first, key), -1)) < 1e-5);
  });

  it('ties with a negative weight: the negated A takes part in the sign election (worked by hand)', () => {
    const adapter = (a: number[]): LoraAdapter => ({
      rank: 1,
      alpha: 1,
      targetModules: ['attn.c_attn'],
      factors: new Map([['h.0.attn.c_attn', { a: Float32Array.from(a), b: Float32Array.from([1, 1]) }]]),
    });
    // Weights 1 and −4: √|w| = 1 and 2, the second A negated to [−1, −2]. Density 1 keeps every entry.
    // Entry 0: votes 3 − 1 > 0 → +, only the first agrees → 3. Entry 1: −1 − 2 < 0 → −, both agree → (1·−1 + 2·−2)/2 = −2.5.
    // B: [1, 1] twice, both positive → (1·1 + 2·1)/2 = 1.5 each.
    const merged = mergeAdapters([adapter([3, -1]), adapter([1, 2])], [1, -4], 'ties', { density: 1 });
    assert.deepEqual(Array.from(merged.factors.get('h.0.attn.c_attn')!.a), [3, -2.5]);
    assert.deepEqual(Array.from(merged.factors.get('h.0.attn.c_attn')!.b), [1.5, 1.5]);
  });

  it('one adapter alone is a linear merge whatever the method, as in PEFT', () => {
    const only = randomAdapter(9, 2, 4);
    for (const method of ['ties', 'dare_linear', 'dare_ties'] as const) {
      const merged = mergeAdapters([only], [0.5], method, { density: 0.2, seed: 4 });
      for (const key of only.factors.keys())
        assert.ok(maxAbsDiff(deltaWeight(merged, key), scaled(deltaWeight(only, key), 0.5)) < 1e-5, method);
    }
  });

  it('ties: trims each tensor to its largest entries, elects a sign per entry, and averages the agreeing weighted entries (worked by hand)', () => {
    // Rank 1, α = 1 (scale 1), weights 1 and 4: √ weights 1 and 2. dIn = dOut = 4.
    const adapter = (a: number[], b: number[]): LoraAdapter => ({
      rank: 1,
      alpha: 1,
      targetModules: ['attn.c_attn'],
      factors: new Map([['h.0.attn.c_attn', { a: Float32Array.from(a), b: Float32Array.from(b) }]]),
    });
    const x = adapter([3, -1, 0.5, -2], [1, 1, 1, 1]);
    const y = adapter([-1, -4, 0.1, 2], [1, 1, 1, 1]);
    const merged = mergeAdapters([x, y], [1, 4], 'ties', { density: 0.5 });
    // Trimmed (top 2 by |·|): x → [3, 0, 0, -2], y → [0, -4, 0, 2]. Signs by total: [+, −, +(0), 0 ≥ 0 → +].
    // Entry 0: only x agrees → 1·3 / 1; entry 1: only y → 2·(−4) / 1; entry 2: none → 0; entry 3: only y → 2·2 / 1.
    assert.deepEqual(Array.from(merged.factors.get('h.0.attn.c_attn')!.a), [3, -8, 0, 4]);
    const byFrequency = mergeAdapters([x, y], [1, 4], 'ties', { density: 0.5, majoritySignMethod: 'frequency' });
    assert.deepEqual(Array.from(byFrequency.factors.get('h.0.attn.c_attn')!.a), [3, -8, 0, 4]);
  });

  it('dare_linear with density 1 is linear; the drop masks follow the seed', () => {
    const adapters = [randomAdapter(5, 3, 6), randomAdapter(6, 3, 3)];
    const weights = [0.5, 0.8];
    const linear = mergeAdapters(adapters, weights, 'linear');
    const kept = mergeAdapters(adapters, weights, 'dare_linear', { density: 1 });
    for (const key of linear.factors.keys())
      assert.ok(maxAbsDiff(kept.factors.get(key)!.a, linear.factors.get(key)!.a) < 1e-6);
    const a = mergeAdapters(adapters, weights, 'dare_linear', { density: 0.5, seed: 1 });
    const b = mergeAdapters(adapters, weights, 'dare_linear', { density: 0.5, seed: 1 });
    const c = mergeAdapters(adapters, weights, 'dare_linear', { density: 0.5, seed: 2 });
    const bytes = (m: LoraAdapter) =>
      Buffer.concat([...m.factors.values()].flatMap((f) => [Buffer.from(f.a.buffer), Buffer.from(f.b.buffer)]));
    assert.ok(bytes(a).equals(bytes(b)));
    assert.ok(!bytes(a).equals(bytes(c)));
    // A projection's masks do not depend on which other projections the adapters have: h.1 alone
    // (with h.1's own factors) draws what it drew after h.0. One stream for all keys would not.
    const only = (adapter: LoraAdapter, key: string): LoraAdapter => ({
      ...adapter,
      factors: new Map([[key, adapter.factors.get(key)!]]),
    });
    const fewer = mergeAdapters(
      adapters.map((x) => only(x, 'h.1.attn.c_attn')),
      weights,
      'dare_linear',
      { density: 0.5, seed: 1 },
    );
    for (const part of ['a', 'b'] as const)
      assert.ok(
        Buffer.from(fewer.factors.get('h.1.attn.c_attn')![part].buffer).equals(
          Buffer.from(a.factors.get('h.1.attn.c_attn')![part].buffer),
        ),
        part,
      );
  });

  it('dare_ties drops about 1 − density of the entries before the sign election and rescales the rest by 1/density', () => {
    const big = (seed: number): LoraAdapter => {
      const random = seededRandom(seed);
      return {
        rank: 1,
        alpha: 1,
        targetModules: ['attn.c_attn'],
        factors: new Map([
          [
            'h.0.attn.c_attn',
            { a: Float32Array.from({ length: 4000 }, () => 1 + random()), b: new Float32Array(1).fill(1) },
          ],
        ]),
      };
    };
    // All entries positive, against an adapter of zeros (it never agrees with a sign): every
    // survivor is x/density, every dropped entry 0.
    const source = big(7);
    const zeros: LoraAdapter = {
      ...source,
      factors: new Map([['h.0.attn.c_attn', { a: new Float32Array(4000), b: new Float32Array(1) }]]),
    };
    const merged = mergeAdapters([source, zeros], [1, 1], 'dare_ties', { density: 0.3, seed: 3 });
    const a = merged.factors.get('h.0.attn.c_attn')!.a;
    const survivors = a.filter((x) => x !== 0).length;
    assert.ok(Math.abs(survivors / a.length - 0.3) < 0.03, `kept ${survivors / a.length}`);
    a.forEach((x, i) => assert.ok(x === 0 || Math.abs(x - source.factors.get('h.0.attn.c_attn')!.a[i]! / 0.3) < 1e-5));
  });

  it('says what cannot be merged', () => {
    const [r2, r3] = [randomAdapter(1, 2, 2), randomAdapter(2, 3, 3)];
    assert.match(mergeProblems([r2, r3], [1, 1], 'linear').join(), /one rank, got ranks 2, 3/);
    assert.deepEqual(mergeProblems([r2, r3], [1, 1], 'cat'), []);
    assert.match(mergeProblems([r2], [1, 2], 'cat').join(), /2 weights for 1 adapters/);
    assert.match(mergeProblems([r2], [1], 'ties', { density: 0 }).join(), /density 0 is outside/);
    assert.match(mergeProblems([r2], [1], 'dare_linear', { density: 1.5 }).join(), /density 1.5 is outside/);
    assert.deepEqual(mergeProblems([r2], [-1], 'linear'), [], 'negative weights negate');
    assert.match(mergeProblems([r2], [Number.NaN], 'linear').join(), /weight 0 is not a finite number/);
    assert.throws(() => mergeAdapters([], [], 'cat'), /at least one adapter/);
  });
});

describe('a cat merge served in one slot', () => {
  it('gives the logits of the output-space mixture of its members (two slots, gates = weights)', async () => {
    const config: DecoderConfig = {
      architecture: 'gpt2',
      vocabSize: 40,
      dModel: 16,
      nLayers: 2,
      nHeads: 2,
      maxPositions: 16,
      normEps: 1e-5,
    };
    const modules = ['attn.c_attn', 'mlp.c_fc'] as const;
    const member = (seed: number, rank: number): LoraAdapter => {
      const random = seededRandom(seed);
      const factors = new Map<string, { a: Float32Array; b: Float32Array }>();
      for (let layer = 0; layer < 2; layer++) {
        factors.set(`h.${layer}.attn.c_attn`, {
          a: randomArray(random, 16 * rank, 0.5),
          b: randomArray(random, rank * 48, 0.5),
        });
        factors.set(`h.${layer}.mlp.c_fc`, {
          a: randomArray(random, 16 * rank, 0.5),
          b: randomArray(random, rank * 64, 0.5),
        });
      }
      return { rank, alpha: 2 * rank, targetModules: [...modules], factors };
    };
    const [x, y] = [member(1, 2), member(2, 3)];
    const merged = mergeAdapters([x, y], [0.6, 0.4], 'cat');
    const pool = new SlotPool(config, { slots: 4, rank: 5, modules });
    const [mergedSlot, xSlot, ySlot] = [
      pool.acquire('merged', () => merged),
      pool.acquire('x', () => x),
      pool.acquire('y', () => y),
    ];
    const session = await DecoderSession.load(config, randomWeights(config, 3), {
      threads: 1,
      lora: { modules, rank: 5 },
    });
    const ids = [[3, 9, 27, 1, 0, 14]];
    const forward = (slots: number[], gates: number[]) =>
      session.forward({
        ids,
        positions: [ids[0]!.map((_, t) => t)],
        attentionMask: [ids[0]!.map(() => 1)],
        lora: {
          ...pool.feeds(),
          slots: int64Tensor(slots, [1, slots.length]),
          gates: float32Tensor(Float32Array.from(ids[0]!.flatMap(() => gates)), [1, ids[0]!.length, gates.length]),
        },
      });
    const one = (await forward([mergedSlot], [1])).logits;
    const mixture = (await forward([xSlot, ySlot], [0.6, 0.4])).logits;
    const base = (await forward([0], [0])).logits;
    assert.ok(maxAbsDiff(one, mixture) < 1e-4, `max abs diff ${maxAbsDiff(one, mixture)}`);
    assert.ok(maxAbsDiff(one, base) > 1e-2, 'the adapters change the logits');
  });
});
