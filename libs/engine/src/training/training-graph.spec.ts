import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSession, float32Tensor, int64Tensor } from '../graph/onnx-session.js';
import { targetModules, type DecoderConfig, type DecoderWeights } from '../model/decoder-config.js';
import { referenceForward, referenceTokenLogprobs, type ReferencePacking } from '../reference/reference-decoder.js';
import type { LoraPool } from '../reference/reference-lora.js';
import { randomArray, randomWeights, seededRandom } from '../testing/random.js';
import { buildTrainingGraph, gradName, type TrainableSet } from './training-graph.js';

const configs: DecoderConfig[] = [
  {
    architecture: 'gpt2',
    vocabSize: 29,
    dModel: 16,
    nLayers: 2,
    nHeads: 2,
    maxPositions: 8,
    normEps: 1e-5,
    gelu: 'tanh',
  },
  {
    architecture: 'llama',
    vocabSize: 29,
    dModel: 16,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    ffnDim: 24,
    maxPositions: 8,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: false,
  },
];
const ids = [
  [3, 17, 4, 28, 0, 9],
  [1, 2, 3, 5, 8, 13],
];
const targets = ids.map((row) => row.map((id) => (id * 5 + 2) % 29));
const lossMask = [
  [1, 1, 0, 1, 1, 1],
  [0, 1, 1, 1, 1, 0],
];
/** The rows as packed documents: 3 + 3 tokens, and 2 + 4, each document from position 0. */
const PACKED: ReferencePacking = {
  positions: [
    [0, 1, 2, 0, 1, 2],
    [0, 1, 0, 1, 2, 3],
  ],
  segments: [
    [0, 0, 0, 1, 1, 1],
    [0, 0, 1, 1, 1, 1],
  ],
};
const RANK = 3;
const SCALE = 2; // α/r, fed as the gate

type Feeds = Record<string, ReturnType<typeof float32Tensor>>;

function tokenFeeds(): Feeds {
  const B = ids.length;
  const T = ids[0]!.length;
  return {
    input_ids: int64Tensor(ids.flat(), [B, T]),
    position_ids: int64Tensor(
      ids.flatMap((row) => row.map((_, t) => t)),
      [B, T],
    ),
    attention_mask: int64Tensor(
      ids.flat().map(() => 1),
      [B, T],
    ),
    segment_ids: int64Tensor(
      ids.flat().map(() => 0),
      [B, T],
    ),
    target_ids: int64Tensor(targets.flat(), [B, T]),
    loss_mask: float32Tensor(Float32Array.from(lossMask.flat()), [B, T]),
  };
}

/** −Σ mask · log p(target), by the reference forward. */
function referenceLoss(
  config: DecoderConfig,
  weights: DecoderWeights,
  pools?: Map<string, LoraPool>,
  packing?: ReferencePacking,
): number {
  const T = ids[0]!.length;
  const lora = pools
    ? { pools, slots: ids.map(() => [0]), gates: new Float32Array(ids.length * T).fill(SCALE) }
    : undefined;
  const logProbs = referenceTokenLogprobs(
    referenceForward(config, weights, ids, lora, packing).logits,
    targets,
    config.vocabSize,
  );
  return -lossMask.flat().reduce((sum, m, i) => sum + m * logProbs[i]!, 0);
}

/** The same loss with every packed document run on its own, as a row of its own. */
function separateDocumentsLoss(config: DecoderConfig, weights: DecoderWeights): number {
  let loss = 0;
  ids.forEach((row, b) => {
    for (const segment of new Set(PACKED.segments[b])) {
      const at = row.map((_, t) => t).filter((t) => PACKED.segments[b]![t] === segment);
      const pick = (values: number[]) => at.map((t) => values[t]!);
      const logProbs = referenceTokenLogprobs(
        referenceForward(config, weights, [pick(row)]).logits,
        [pick(targets[b]!)],
        config.vocabSize,
      );
      loss -= pick(lossMask[b]!).reduce((sum, m, i) => sum + m * logProbs[i]!, 0);
    }
  });
  return loss;
}

async function trainingSession(config: DecoderConfig, weights: DecoderWeights, trainable: TrainableSet) {
  const graph = buildTrainingGraph(config, weights, trainable);
  const session = await createSession(graph.model, { threads: 1 });
  return {
    parameters: graph.parameters,
    run: async (values: Map<string, Float32Array>, extra: Feeds = {}) => {
      const feeds: Feeds = { ...tokenFeeds(), ...extra };
      for (const p of graph.parameters) feeds[p.name] = float32Tensor(values.get(p.name)!, p.shape);
      const out = await session.run(feeds);
      return {
        loss: (out.loss_sum!.data as Float32Array)[0]!,
        grads: new Map(graph.parameters.map((p) => [p.name, out[gradName(p.name)]!.data as Float32Array])),
      };
    },
  };
}

/** Random values (uniform ±0.2) for every parameter, drawn from one seeded sequence. */
function randomValues(parameters: { name: string; shape: number[] }[], seed: number): Map<string, Float32Array> {
  const random = seededRandom(seed);
  return new Map(
    parameters.map((p) => [
      p.name,
      randomArray(
        random,
        p.shape.reduce((a, b) => a * b, 1),
        0.2,
      ),
    ]),
  );
}

/** Checks ⟨∇L, v⟩ against (L(θ+εv) − L(θ−εv)) / 2ε along random directions v over every parameter. */
async function checkDirectional(
  values: Map<string, Float32Array>,
  grads: Map<string, Float32Array>,
  loss: (values: Map<string, Float32Array>) => Promise<number> | number,
  seed: number,
) {
  const random = seededRandom(seed);
  // Small enough that curvature stays below the tolerance, large enough for fp32 round-off.
  const epsilon = 1e-3;
  for (let trial = 0; trial < 3; trial++) {
    const direction = new Map([...values].map(([name, v]) => [name, randomArray(random, v.length, 1)]));
    const shifted = (sign: number) =>
      new Map([...values].map(([name, v]) => [name, v.map((x, i) => x + sign * epsilon * direction.get(name)![i]!)]));
    const numeric = ((await loss(shifted(1))) - (await loss(shifted(-1)))) / (2 * epsilon);
    let analytic = 0;
    for (const [name, g] of grads) g.forEach((x, i) => (analytic += x * direction.get(name)![i]!));
    assert.ok(
      Math.abs(numeric - analytic) <= 1e-2 * Math.max(1, Math.abs(analytic)),
      `numeric ${numeric} vs analytic ${analytic}`,
    );
  }
}

for (const config of configs) {
  describe(`${config.architecture} training graph`, () => {
    const weights = randomWeights(config, 5, 0.3);
    const modules = targetModules(config);

    it('LoRA on every projection: loss equals the reference, gradients match finite differences of the graph and of the reference', async () => {
      const { parameters, run } = await trainingSession(config, weights, { kind: 'lora', modules, rank: RANK });
      assert.equal(parameters.length, 2 * modules.length * config.nLayers);
      const values = randomValues(parameters, 3);
      const lora = {
        slots: int64Tensor(
          ids.map(() => 0),
          [ids.length, 1],
        ),
        gates: float32Tensor(new Float32Array(ids.length * ids[0]!.length).fill(SCALE), [
          ids.length,
          ids[0]!.length,
          1,
        ]),
      };
      const toPools = (v: Map<string, Float32Array>) => {
        const pools = new Map<string, LoraPool>();
        for (const p of parameters) {
          const key = p.name.replace(/^lora\./, '').replace(/\.[AB]$/, '');
          const entry: LoraPool = pools.get(key) ?? {
            a: new Float32Array(),
            b: new Float32Array(),
            slots: 1,
            rank: RANK,
            dIn: 0,
            dOut: 0,
          };
          if (p.name.endsWith('.A')) {
            entry.a = v.get(p.name)!;
            entry.dIn = p.shape[1]!;
          } else {
            entry.b = v.get(p.name)!;
            entry.dOut = p.shape[2]!;
          }
          pools.set(key, entry);
        }
        return pools;
      };

      const { loss, grads } = await run(values, lora);
      const reference = referenceLoss(config, weights, toPools(values));
      assert.ok(Math.abs(loss - reference) < 1e-3, `loss ${loss} vs reference ${reference}`);
      assert.ok(
        [...grads.values()].some((g) => g.some((x) => Math.abs(x) > 1e-3)),
        'gradients are not all zero',
      );
      await checkDirectional(values, grads, async (v) => (await run(v, lora)).loss, 1);
      await checkDirectional(values, grads, (v) => referenceLoss(config, weights, toPools(v)), 2);

      // onlyB (the placement probe): A fed as plain inputs; B's gradients as above, none for A.
      const sketch = await trainingSession(config, weights, { kind: 'lora', modules, rank: RANK, onlyB: true });
      const aPools = parameters.filter((p) => p.name.endsWith('.A'));
      assert.deepEqual(
        sketch.parameters.map((p) => p.name),
        parameters.filter((p) => p.name.endsWith('.B')).map((p) => p.name),
      );
      const aFeeds = Object.fromEntries(aPools.map((p) => [p.name, float32Tensor(values.get(p.name)!, p.shape)]));
      const sketched = await sketch.run(values, { ...lora, ...aFeeds });
      assert.ok(Math.abs(sketched.loss - loss) < 1e-5, `loss ${sketched.loss} vs ${loss}`);
      for (const [name, gradient] of sketched.grads) {
        const full = grads.get(name)!;
        gradient.forEach((x, i) => assert.ok(Math.abs(x - full[i]!) < 1e-5, `${name}[${i}]: ${x} vs ${full[i]}`));
      }
    });

    it('long-range adapters (layer i input → layer j output): loss equals the reference, gradients match finite differences of the graph and of the reference', async () => {
      const pairs = [
        { from: 0, to: 0 },
        { from: 0, to: 1 },
        { from: 1, to: 1 },
      ];
      const trainable = { kind: 'long-range', pairs, rank: RANK, scale: SCALE } as const;
      const { parameters, run } = await trainingSession(config, weights, trainable);
      assert.deepEqual(
        parameters.map((p) => p.name),
        ['long.0-0.A', 'long.0-0.B', 'long.0-1.A', 'long.0-1.B', 'long.1-1.A', 'long.1-1.B'],
      );
      const values = randomValues(parameters, 13);
      const reference = (v: Map<string, Float32Array>) => {
        const longRange = {
          pairs: pairs.map((pair) => ({
            ...pair,
            a: v.get(`long.${pair.from}-${pair.to}.A`)!,
            b: v.get(`long.${pair.from}-${pair.to}.B`)!,
          })),
          rank: RANK,
          scale: SCALE,
        };
        const logProbs = referenceTokenLogprobs(
          referenceForward(config, weights, ids, undefined, undefined, longRange).logits,
          targets,
          config.vocabSize,
        );
        return -lossMask.flat().reduce((sum, m, i) => sum + m * logProbs[i]!, 0);
      };
      const { loss, grads } = await run(values);
      assert.ok(Math.abs(loss - reference(values)) < 1e-3, `loss ${loss} vs reference ${reference(values)}`);
      assert.ok(Math.abs(loss - referenceLoss(config, weights)) > 1e-2, 'the adapters changed nothing');
      await checkDirectional(values, grads, async (v) => (await run(v)).loss, 4);
      await checkDirectional(values, grads, reference, 5);
      assert.throws(
        () => buildTrainingGraph(config, weights, { ...trainable, pairs: [{ from: 1, to: 0 }] }),
        /long-range adapter 1 → 0: needs 0 ≤ from ≤ to < 2/,
      );
    });

    it('every weight trainable (full training): gradients match finite differences of the reference', async () => {
      const { parameters, run } = await trainingSession(config, weights, { kind: 'all' });
      assert.equal(parameters.length, weights.size);
      const values = new Map(parameters.map((p) => [p.name, Float32Array.from(weights.get(p.name)!)]));
      const { loss, grads } = await run(values);
      assert.ok(Math.abs(loss - referenceLoss(config, weights)) < 1e-3);
      await checkDirectional(values, grads, (v) => referenceLoss(config, v), 3);
    });

    it('packed documents (segment ids, positions from 0): each attends only to itself, as the reference and as run alone', async () => {
      const { parameters, run } = await trainingSession(config, weights, { kind: 'all' });
      const values = new Map(parameters.map((p) => [p.name, Float32Array.from(weights.get(p.name)!)]));
      const [B, T] = [ids.length, ids[0]!.length];
      const packed: Feeds = {
        position_ids: int64Tensor(PACKED.positions.flat(), [B, T]),
        segment_ids: int64Tensor(PACKED.segments.flat(), [B, T]),
      };
      const { loss, grads } = await run(values, packed);
      const reference = referenceLoss(config, weights, undefined, PACKED);
      assert.ok(Math.abs(loss - reference) < 1e-3, `loss ${loss} vs reference ${reference}`);
      const alone = separateDocumentsLoss(config, weights);
      assert.ok(Math.abs(reference - alone) < 1e-3, `packed reference ${reference} vs documents alone ${alone}`);
      // Masking matters here: the unmasked rows score differently.
      const unmasked = referenceLoss(config, weights);
      assert.ok(Math.abs(unmasked - reference) > 1e-2, `unmasked ${unmasked} vs masked ${reference}`);
      await checkDirectional(values, grads, (v) => referenceLoss(config, v, undefined, PACKED), 6);
    });

    it('a learned gate over frozen adapters: loss equals the reference, gradients match finite differences of the graph and of the reference', async () => {
      const K = 3;
      const T = ids[0]!.length;
      const { parameters, run } = await trainingSession(config, weights, {
        kind: 'gate',
        modules,
        rank: RANK,
        adapters: K,
      });
      assert.equal(parameters.length, modules.length * config.nLayers);
      assert.ok(parameters.every((p) => p.name.endsWith('.router') && p.shape[0] === K));
      const random = seededRandom(8);
      const values = new Map(
        parameters.map((p) => [
          p.name,
          randomArray(
            random,
            p.shape.reduce((a, b) => a * b, 1),
            1,
          ),
        ]),
      );
      const feeds: Feeds = {};
      const pools = new Map<string, LoraPool>();
      // Frozen pools of K slots, shaped as the LoRA graph's parameters.
      for (const p of buildTrainingGraph(config, weights, { kind: 'lora', modules, rank: RANK }).parameters) {
        const [, x, y] = p.shape;
        const data = randomArray(random, K * x! * y!, 0.3);
        feeds[p.name] = float32Tensor(data, [K, x!, y!]);
        const key = p.name.replace(/^lora\./, '').replace(/\.[AB]$/, '');
        const entry: LoraPool = pools.get(key) ?? {
          a: new Float32Array(),
          b: new Float32Array(),
          slots: K,
          rank: RANK,
          dIn: 0,
          dOut: 0,
        };
        if (p.name.endsWith('.A')) Object.assign(entry, { a: data, dIn: x! });
        else Object.assign(entry, { b: data, dOut: y! });
        pools.set(key, entry);
      }
      const extra: Feeds = {
        ...feeds,
        slots: int64Tensor(
          ids.flatMap(() => [0, 1, 2]),
          [ids.length, K],
        ),
        gates: float32Tensor(new Float32Array(ids.length * T * K).fill(1), [ids.length, T, K]),
      };
      const referenceGateLoss = (v: Map<string, Float32Array>) => {
        const vectors = new Map(
          [...v].map(([name, data]) => [name.replace(/^lora\./, '').replace(/\.router$/, ''), data]),
        );
        const lora = {
          pools,
          slots: ids.map(() => [0, 1, 2]),
          gates: new Float32Array(ids.length * T * K).fill(1),
          router: { vectors, topK: ids.map(() => K), absolute: ids.map(() => false) },
        };
        const logProbs = referenceTokenLogprobs(
          referenceForward(config, weights, ids, lora).logits,
          targets,
          config.vocabSize,
        );
        return -lossMask.flat().reduce((sum, m, i) => sum + m * logProbs[i]!, 0);
      };
      const { loss, grads } = await run(values, extra);
      assert.ok(
        Math.abs(loss - referenceGateLoss(values)) < 1e-3,
        `loss ${loss} vs reference ${referenceGateLoss(values)}`,
      );
      await checkDirectional(values, grads, async (v) => (await run(v, extra)).loss, 4);
      await checkDirectional(values, grads, referenceGateLoss, 5);
    });
  });
}
