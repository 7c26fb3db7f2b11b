import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { boolTensor, float32Tensor, int64Tensor } from '../graph/onnx-session.js';
import { referenceForward, referencePooled, referenceTokenLogprobs } from '../reference/reference-decoder.js';
import type { LoraPool } from '../reference/reference-lora.js';
import { maxAbsDiff, randomArray, randomWeights, seededRandom } from '../testing/random.js';
import { RowCaches } from '../testing/row-caches.js';
import { projectionKey, projectionShape, targetModules, type DecoderConfig } from './decoder-config.js';
import { loraInputName } from './decoder.js';
import { DecoderSession } from './decoder-session.js';

const configs: DecoderConfig[] = [
  { architecture: 'gpt2', vocabSize: 61, dModel: 32, nLayers: 2, nHeads: 4, maxPositions: 16, normEps: 1e-5 },
  // Grouped-query attention (4 query heads share 2 key/value heads), untied output head.
  {
    architecture: 'llama',
    vocabSize: 61,
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    ffnDim: 48,
    maxPositions: 16,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: false,
  },
];

const ids = [
  [5, 17, 3, 60, 0, 42, 9],
  [1, 1, 2, 3, 5, 8, 13],
];
const B = ids.length;
const T = ids[0]!.length;

/** A fresh prefill of equal-length rows: positions 0..T-1, nothing masked. */
const prefill = (rows: number[][]) => ({
  ids: rows,
  positions: rows.map((row) => row.map((_, t) => t)),
  attentionMask: rows.map((row) => row.map(() => 1)),
});

for (const config of configs) {
  const V = config.vocabSize;
  describe(`${config.architecture} forward graph`, () => {
    const weights = randomWeights(config, 11);
    /** Logits of row b at position t of a [B, T, V] block. */
    const at = (logits: Float32Array, tokens: number, b: number, t: number) =>
      logits.subarray((b * tokens + t) * V, (b * tokens + t + 1) * V);

    it('matches the TypeScript reference forward (fp32, max abs error < 1e-4)', async () => {
      const session = await DecoderSession.load(config, weights, { threads: 1 });
      const { logits, newKv } = await session.forward(prefill(ids));
      assert.equal(logits.length, B * T * V);
      const kv = config.architecture === 'llama' ? config.nKvHeads : config.nHeads;
      assert.deepEqual(newKv['new.0.key']!.dims, [B, kv, T, config.dModel / config.nHeads]);
      const diff = maxAbsDiff(logits, referenceForward(config, weights, ids).logits);
      assert.ok(diff < 1e-4, `max abs diff ${diff}`);
    });

    it('returns logits at the positions asked for only, equal to those of every position', async () => {
      const session = await DecoderSession.load(config, weights, { threads: 1 });
      const all = (await session.forward(prefill(ids))).logits;
      const picked = [
        [T - 1, 0],
        [2, T - 1],
      ].slice(0, B);
      const { logits } = await session.forward({ ...prefill(ids), logitPositions: picked });
      assert.equal(logits.length, B * 2 * V);
      picked.forEach((positions, b) =>
        positions.forEach((t, l) =>
          assert.ok(maxAbsDiff(logits.subarray((b * 2 + l) * V, (b * 2 + l + 1) * V), at(all, T, b, t)) < 1e-5),
        ),
      );
    });

    it('returns the mean-pooled final hidden state and, when scoring, per-token log-probs, as the reference does', async () => {
      const session = await DecoderSession.load(config, weights, { threads: 1, scoring: true });
      const targets = ids.map((row) => row.map((id) => (id * 7 + 3) % V));
      const { pooledHidden, tokenLogprobs } = await session.forward({ ...prefill(ids), targets });
      const reference = referenceForward(config, weights, ids);
      assert.ok(maxAbsDiff(pooledHidden, referencePooled(reference.hidden, B, T, config.dModel)) < 1e-4);
      assert.ok(maxAbsDiff(tokenLogprobs!, referenceTokenLogprobs(reference.logits, targets, V)) < 1e-4);
      // Padding does not enter the mean: a right-padded row pools as it does alone.
      const padded = await session.forward({
        ids: [[...ids[0]!.slice(0, 4), 0, 0, 0]],
        positions: [[0, 1, 2, 3, 0, 0, 0]],
        attentionMask: [[1, 1, 1, 1, 0, 0, 0]],
        targets: [targets[0]!],
      });
      const alone = referenceForward(config, weights, [ids[0]!.slice(0, 4)]);
      assert.ok(maxAbsDiff(padded.pooledHidden, referencePooled(alone.hidden, 1, 4, config.dModel)) < 1e-4);
    });

    it('is causal: a later token does not change earlier logits', async () => {
      const session = await DecoderSession.load(config, weights, { threads: 1 });
      const changed = ids.map((row) => [...row.slice(0, -1), (row.at(-1)! + 1) % config.vocabSize]);
      const a = (await session.forward(prefill(ids))).logits;
      const b = (await session.forward(prefill(changed))).logits;
      for (let row = 0; row < B; row++) {
        const prefix = (x: Float32Array) =>
          x.subarray(row * T * config.vocabSize, (row * T + T - 1) * config.vocabSize);
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
        for (const module of targetModules(config)) {
          const [dIn, dOut] = projectionShape(config, module);
          const key = projectionKey(config, layer, module);
          const a = randomArray(random, slotsInPool * dIn * rank, 0.2);
          const b = randomArray(random, slotsInPool * rank * dOut, 0.2);
          a.fill(0, 0, dIn * rank); // slot 0: the zero adapter
          b.fill(0, 0, rank * dOut);
          pools.set(key, { a, b, slots: slotsInPool, rank, dIn, dOut });
          feeds[loraInputName(key, 'A')] = float32Tensor(a, [slotsInPool, dIn, rank]);
          feeds[loraInputName(key, 'B')] = float32Tensor(b, [slotsInPool, rank, dOut]);
        }
      }
      const slots = [
        [1, 3],
        [4, 0],
      ];
      const gates = randomArray(random, B * T * 2, 1).map(Math.abs);
      const session = await DecoderSession.load(config, weights, {
        threads: 1,
        lora: { modules: targetModules(config), rank },
      });
      const { logits } = await session.forward({
        ...prefill(ids),
        lora: { ...feeds, slots: int64Tensor(slots.flat(), [B, 2]), gates: float32Tensor(gates, [B, T, 2]) },
      });
      const reference = referenceForward(config, weights, ids, { pools, slots, gates }).logits;
      const diff = maxAbsDiff(logits, reference);
      assert.ok(diff < 1e-4, `max abs diff ${diff}`);
      const base = referenceForward(config, weights, ids).logits;
      assert.ok(maxAbsDiff(reference, base) > 1e-2, 'the adapters changed nothing: the check would be vacuous');
    });

    it('skips the LoRA products of a projection marked inactive: never reads its factors, matches the reference on the rest', async () => {
      const rank = 2;
      const slotsInPool = 3;
      const random = seededRandom(31);
      const factors = new Map<string, { a: Float32Array; b: Float32Array; dIn: number; dOut: number }>();
      for (let layer = 0; layer < config.nLayers; layer++) {
        for (const module of targetModules(config)) {
          const [dIn, dOut] = projectionShape(config, module);
          const a = randomArray(random, slotsInPool * dIn * rank, 0.3);
          const b = randomArray(random, slotsInPool * rank * dOut, 0.3);
          factors.set(projectionKey(config, layer, module), { a, b, dIn, dOut });
        }
      }
      const keys = [...factors.keys()];
      // The first layer's first projection and the last layer's last: every other pool is inactive, its factors still nonzero.
      const active = new Set([keys[0]!, keys.at(-1)!]);
      const slots = [[1], [2]];
      const gates = new Float32Array(B * T).fill(1.5);
      const lora = (activeKeys: ReadonlySet<string>) => {
        const feeds: Record<string, ReturnType<typeof float32Tensor>> = {
          slots: int64Tensor(slots.flat(), [B, 1]),
          gates: float32Tensor(gates, [B, T, 1]),
        };
        for (const [key, { a, b, dIn, dOut }] of factors) {
          feeds[loraInputName(key, 'A')] = float32Tensor(a, [slotsInPool, dIn, rank]);
          feeds[loraInputName(key, 'B')] = float32Tensor(b, [slotsInPool, rank, dOut]);
          feeds[loraInputName(key, 'active')] = boolTensor([activeKeys.has(key)], []);
        }
        return feeds;
      };
      const referencePools = (activeKeys: ReadonlySet<string>) =>
        new Map(
          [...factors].map(([key, { a, b, dIn, dOut }]): [string, LoraPool] => [
            key,
            activeKeys.has(key)
              ? { a, b, slots: slotsInPool, rank, dIn, dOut }
              : { a: new Float32Array(a.length), b: new Float32Array(b.length), slots: slotsInPool, rank, dIn, dOut },
          ]),
        );
      const session = await DecoderSession.load(config, weights, {
        threads: 1,
        lora: { modules: targetModules(config), rank, skipUntouched: true },
      });
      const skipped = (await session.forward({ ...prefill(ids), lora: lora(active) })).logits;
      const expected = referenceForward(config, weights, ids, { pools: referencePools(active), slots, gates }).logits;
      assert.ok(maxAbsDiff(skipped, expected) < 1e-4, `max abs diff ${maxAbsDiff(skipped, expected)}`);
      const every = new Set(keys);
      const full = referenceForward(config, weights, ids, { pools: referencePools(every), slots, gates }).logits;
      assert.ok(maxAbsDiff(full, expected) > 1e-2, 'the inactive factors would have changed the logits');
      assert.ok(maxAbsDiff(expected, referenceForward(config, weights, ids).logits) > 1e-2, 'the active ones do');
      const all = (await session.forward({ ...prefill(ids), lora: lora(every) })).logits;
      assert.ok(maxAbsDiff(all, full) < 1e-4, 'every projection active: the full reference');
    });

    it('routes tokens per projection (Arrow top-k, learned gates) beside fixed-gate rows, matching the reference', async () => {
      const rank = 3;
      const slotsInPool = 5;
      const random = seededRandom(29);
      const feeds: Record<string, ReturnType<typeof float32Tensor>> = {};
      const pools = new Map<string, LoraPool>();
      const vectors = new Map<string, Float32Array>();
      for (let layer = 0; layer < config.nLayers; layer++) {
        for (const module of targetModules(config)) {
          const [dIn, dOut] = projectionShape(config, module);
          const key = projectionKey(config, layer, module);
          const a = randomArray(random, slotsInPool * dIn * rank, 0.3);
          const b = randomArray(random, slotsInPool * rank * dOut, 0.3);
          const router = randomArray(random, slotsInPool * dIn, 1);
          pools.set(key, { a, b, slots: slotsInPool, rank, dIn, dOut });
          vectors.set(key, router);
          feeds[loraInputName(key, 'A')] = float32Tensor(a, [slotsInPool, dIn, rank]);
          feeds[loraInputName(key, 'B')] = float32Tensor(b, [slotsInPool, rank, dOut]);
          feeds[loraInputName(key, 'router')] = float32Tensor(router, [slotsInPool, dIn]);
        }
      }
      const rows = [...ids, [...ids[0]!].reverse()];
      // Row 0: Arrow, top 2 of 3 candidates; row 1: a learned gate over 2 (third column padding); row 2: fixed gates.
      const slots = [
        [1, 2, 3],
        [4, 2, 0],
        [3, 1, 0],
      ];
      const gates = new Float32Array(rows.length * T * 3);
      for (let t = 0; t < T; t++) {
        gates.set([1, 1, 1], (0 * T + t) * 3);
        gates.set([1, 1, 0], (1 * T + t) * 3);
        gates.set([0.6, -0.3, 0], (2 * T + t) * 3);
      }
      const topK = [2, 2, 0];
      const absolute = [true, false, false];
      const session = await DecoderSession.load(config, weights, {
        threads: 1,
        lora: { modules: targetModules(config), rank, router: true },
      });
      const out = await session.forward({
        ...prefill(rows),
        lora: {
          ...feeds,
          slots: int64Tensor(slots.flat(), [rows.length, 3]),
          gates: float32Tensor(gates, [rows.length, T, 3]),
          router_top_k: float32Tensor(Float32Array.from(topK), [rows.length]),
          router_abs: float32Tensor(Float32Array.from(absolute, Number), [rows.length]),
        },
      });
      const reference = referenceForward(config, weights, rows, {
        pools,
        slots,
        gates,
        router: { vectors, topK, absolute },
      });
      assert.ok(
        maxAbsDiff(out.logits, reference.logits) < 1e-4,
        `logits: max abs diff ${maxAbsDiff(out.logits, reference.logits)}`,
      );
      assert.ok(
        maxAbsDiff(out.meanGates!, reference.meanGates!) < 1e-4,
        `gates: max abs diff ${maxAbsDiff(out.meanGates!, reference.meanGates!)}`,
      );
      const tokenGates = (r: number, t: number) =>
        Array.from(out.meanGates!.subarray((r * T + t) * 3, (r * T + t + 1) * 3));
      for (let t = 0; t < T; t++) {
        assert.ok(Math.abs(tokenGates(0, t).reduce((x, y) => x + y) - 1) < 1e-5, 'routed gates sum to 1');
        assert.equal(tokenGates(1, t)[2], 0, 'padding gets no weight');
        assert.deepEqual(
          tokenGates(2, t).map((g) => Math.round(g * 1e6) / 1e6),
          [0.6, -0.3, 0],
          'fixed gates pass through',
        );
      }
      // The gates really move from token to token (else per-token routing would be untested).
      const spread =
        Math.max(...Array.from({ length: T }, (_, t) => tokenGates(0, t)[0]!)) -
        Math.min(...Array.from({ length: T }, (_, t) => tokenGates(0, t)[0]!));
      assert.ok(spread > 0.05, `row 0's first gate varies by only ${spread}`);
    });

    it('decodes with the KV cache exactly as a full recompute, and chunked prefill changes nothing', async () => {
      const session = await DecoderSession.load(config, weights, { threads: 1 });
      const full = (await session.forward(prefill(ids))).logits;
      // Prefill 3 tokens, then a chunk of 2, then one token at a time.
      let out = await session.forward(prefill(ids.map((row) => row.slice(0, 3))));
      const cache = new RowCaches(config, B).append(out.newKv);
      const chunks: [number, number][] = [
        [3, 5],
        [5, 6],
        [6, 7],
      ];
      for (const [from, to] of chunks) {
        out = await session.forward({
          ids: ids.map((row) => row.slice(from, to)),
          positions: ids.map(() => Array.from({ length: to - from }, (_, i) => from + i)),
          attentionMask: ids.map(() => Array(to).fill(1)),
          cache: cache.input(),
        });
        cache.append(out.newKv);
        for (let b = 0; b < B; b++) {
          for (let t = from; t < to; t++) {
            const diff = maxAbsDiff(at(out.logits, to - from, b, t - from), at(full, T, b, t));
            assert.ok(diff < 1e-4, `row ${b} position ${t}: ${diff}`);
          }
        }
      }
    });

    it('ignores cache columns the mask marks unused: spare capacity and holes change nothing', async () => {
      const session = await DecoderSession.load(config, weights, { threads: 1 });
      const full = (await session.forward(prefill(ids))).logits;
      const first = await session.forward(prefill(ids.map((row) => row.slice(0, 4))));
      // 9 past columns: the entries of positions 0-3 at columns 0, 1, 3, 5; the others point at
      // slots holding garbage (entries of a pass over other tokens), masked accordingly.
      const cache = new RowCaches(config, B).append(first.newKv);
      cache.append((await session.forward(prefill(ids.map((row) => row.slice(2, 7))))).newKv);
      const used = [0, 1, 3, 5];
      const index = ids.map((_, b) =>
        Array.from({ length: 9 }, (_, j) => cache.slot(b, used.includes(j) ? used.indexOf(j) : 4 + (j % 5))),
      );
      const mask = Array.from({ length: 9 }, (_, j) => (used.includes(j) ? 1 : 0));
      const next = await session.forward({
        ids: ids.map((row) => row.slice(4, 6)),
        positions: ids.map(() => [4, 5]),
        attentionMask: ids.map(() => [...mask, 1, 1]),
        cache: { blocks: cache.kv, index },
      });
      for (let b = 0; b < B; b++)
        for (const t of [4, 5]) assert.ok(maxAbsDiff(at(next.logits, 2, b, t - 4), at(full, T, b, t)) < 1e-4);
    });

    it('gives a padded row of a batch the same logits as the row alone', async () => {
      const session = await DecoderSession.load(config, weights, { threads: 1 });
      const short = [7, 7, 30];
      const long = [4, 8, 15, 16, 23, 42];
      // Right padding: the short row's pad tokens are masked out and never attended to.
      const batch = await session.forward({
        ids: [[...short, 0, 0, 0], long],
        positions: [
          [0, 1, 2, 0, 0, 0],
          [0, 1, 2, 3, 4, 5],
        ],
        attentionMask: [
          [1, 1, 1, 0, 0, 0],
          [1, 1, 1, 1, 1, 1],
        ],
      });
      const alone = (await session.forward(prefill([short]))).logits;
      for (let t = 0; t < short.length; t++)
        assert.ok(maxAbsDiff(at(batch.logits, 6, 0, t), at(alone, short.length, 0, t)) < 1e-4);
      const longAlone = (await session.forward(prefill([long]))).logits;
      assert.ok(maxAbsDiff(batch.logits.subarray(6 * V), longAlone) < 1e-4);
    });
  });
}
