import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoraAdapter } from '../adapter/lora-adapter.js';
import { slotFactors } from '../adapter/slot-factors.js';
import {
  projectionKey,
  projectionShape,
  targetModules,
  type DecoderConfig,
  type TargetModule,
} from '../model/decoder-config.js';
import { DecoderSession } from '../model/decoder-session.js';
import { referenceForward } from '../reference/reference-decoder.js';
import type { LoraPool } from '../reference/reference-lora.js';
import { argmax } from './sampling.js';
import { randomArray, randomWeights, seededRandom } from '../testing/random.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { BatchScheduler, type GenerateRequest } from './batch-scheduler.js';
import { SlotPool } from './slot-pool.js';

const configs: DecoderConfig[] = [
  { architecture: 'gpt2', vocabSize: 257, dModel: 32, nLayers: 2, nHeads: 4, maxPositions: 64, normEps: 1e-5 },
  {
    architecture: 'llama',
    vocabSize: 257,
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    ffnDim: 64,
    maxPositions: 64,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: true,
  },
];
const RANK = 4;
const tokenizer = new ByteTokenizer();
const prompts = Array.from({ length: 32 }, (_, i) => tokenizer.encode(`request ${i}: ${'abc'.repeat(i % 5)}`));

for (const config of configs) {
  const modules = targetModules(config);
  function adapter(seed: number, rank = RANK): LoraAdapter {
    const random = seededRandom(1000 + seed);
    const factors = new Map();
    for (let layer = 0; layer < config.nLayers; layer++) {
      for (const module of modules) {
        const [dIn, dOut] = projectionShape(config, module);
        factors.set(projectionKey(config, layer, module), {
          a: randomArray(random, dIn * rank, 0.3),
          b: randomArray(random, rank * dOut, 0.3),
        });
      }
    }
    return { rank, alpha: 2 * rank, targetModules: [...modules], factors };
  }

  const baseWeights = randomWeights(config, 3, 0.25);

  async function scheduler(options: { slots?: number; maxBatch?: number; prefillChunk?: number } = {}) {
    const session = await DecoderSession.load(config, baseWeights, { threads: 1, lora: { modules, rank: RANK } });
    const pool = new SlotPool(config, { slots: options.slots ?? 33, rank: RANK, modules });
    const batching = new BatchScheduler(session, pool, tokenizer, {
      maxBatch: options.maxBatch ?? 32,
      prefillChunk: options.prefillChunk ?? 64,
      maxBatchTokens: 512,
    });
    return { batching, pool };
  }

  const request = (i: number, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
    prompt: prompts[i]!,
    adapters: [{ id: `adapter-${i}`, load: () => adapter(i) }],
    maxTokens: 8,
    ...extra,
  });

  describe(`BatchScheduler (${config.architecture})`, () => {
    it('gives each request the same greedy tokens alone and in a batch of 32 requests on 32 different adapters', async () => {
      const alone: number[][] = [];
      const single = await scheduler();
      for (let i = 0; i < 32; i++) alone.push((await single.batching.generate(request(i))).tokens);
      const { batching } = await scheduler();
      const together = await Promise.all(Array.from({ length: 32 }, (_, i) => batching.generate(request(i))));
      assert.deepEqual(
        together.map((r) => r.tokens),
        alone,
      );
      assert.ok(
        new Set(alone.map((t) => t.join())).size > 1,
        'every adapter produced the same text: the check would be vacuous',
      );
    });

    it('produces the tokens of a plain full recompute with the adapter merged, α/r and rank padding included', async () => {
      const small = adapter(5, 2); // rank 2 in a rank-4 pool
      const { batching } = await scheduler();
      const result = await batching.generate({
        prompt: prompts[5]!,
        adapters: [{ id: 'small', load: () => small }],
        maxTokens: 6,
      });
      const pools = new Map<string, LoraPool>();
      for (const key of small.factors.keys()) {
        const module = key.replace(/^[a-z]+\.\d+\./, '') as TargetModule;
        const [dIn, dOut] = projectionShape(config, module);
        const { a, b } = slotFactors(small, key, dIn, dOut, RANK);
        pools.set(key, { a, b, slots: 1, rank: RANK, dIn, dOut });
      }
      const sequence = [...prompts[5]!];
      const expected: number[] = [];
      for (let step = 0; step < 6; step++) {
        const gates = new Float32Array(sequence.length).fill(1);
        const { logits } = referenceForward(config, baseWeights, [sequence], { pools, slots: [[0]], gates });
        const next = argmax(logits.subarray((sequence.length - 1) * config.vocabSize));
        expected.push(next);
        sequence.push(next);
      }
      assert.deepEqual(result.tokens, expected);
    });

    it('mixes adapters in output space: the tokens of a plain recompute with Σ_j w_j ΔW_j; a mixture [a: 1, b: 0] is adapter a', async () => {
      const mixed = [adapter(11, 2), adapter(12)];
      const weights = [0.7, -0.4];
      const { batching } = await scheduler();
      const result = await batching.generate({
        prompt: prompts[3]!,
        adapters: mixed.map((a, j) => ({ id: `mix-${j}`, load: () => a, weight: weights[j]! })),
        maxTokens: 6,
      });
      const pools = new Map<string, LoraPool>();
      for (const key of mixed[0]!.factors.keys()) {
        const module = key.replace(/^[a-z]+\.\d+\./, '') as TargetModule;
        const [dIn, dOut] = projectionShape(config, module);
        const slots = mixed.map((a) => slotFactors(a, key, dIn, dOut, RANK));
        pools.set(key, {
          a: Float32Array.from(slots.flatMap((f) => [...f.a])),
          b: Float32Array.from(slots.flatMap((f) => [...f.b])),
          slots: 2,
          rank: RANK,
          dIn,
          dOut,
        });
      }
      const sequence = [...prompts[3]!];
      const expected: number[] = [];
      for (let step = 0; step < 6; step++) {
        const gates = Float32Array.from({ length: sequence.length * 2 }, (_, i) => weights[i % 2]!);
        const { logits } = referenceForward(config, baseWeights, [sequence], { pools, slots: [[0, 1]], gates });
        const next = argmax(logits.subarray((sequence.length - 1) * config.vocabSize));
        expected.push(next);
        sequence.push(next);
      }
      assert.deepEqual(result.tokens, expected);

      // In one batch with single-adapter and base rows (k padded with slot 0 at gate 0).
      const alone = (await (await scheduler()).batching.generate(request(4))).tokens;
      const base = (await (await scheduler()).batching.generate({ ...request(5), adapters: [] })).tokens;
      const together = await Promise.all([
        batching.generate({
          ...request(4),
          adapters: [
            { id: 'adapter-4', load: () => adapter(4), weight: 1 },
            { id: 'adapter-9', load: () => adapter(9), weight: 0 },
          ],
        }),
        batching.generate({ ...request(5), adapters: [] }),
        batching.generate(request(4)),
      ]);
      assert.deepEqual(
        together.map((r) => r.tokens),
        [alone, base, alone],
      );
      assert.notDeepEqual(alone, base);
    });

    it('chunks long prefills without changing the output', async () => {
      const whole = await (await scheduler()).batching.generate(request(9));
      const chunked = await (await scheduler({ prefillChunk: 3 })).batching.generate(request(9));
      assert.deepEqual(chunked.tokens, whole.tokens);
    });

    it('queues requests for more adapters than slots, evicting unpinned slots least-recently-used', async () => {
      const alone = await Promise.all(
        [0, 1, 2, 3].map(async (i) => (await (await scheduler()).batching.generate(request(i))).tokens),
      );
      const { batching, pool } = await scheduler({ slots: 3 }); // 2 adapter slots for 4 adapters
      const results = await Promise.all([0, 1, 2, 3].map((i) => batching.generate(request(i))));
      assert.deepEqual(
        results.map((r) => r.tokens),
        alone,
      );
      assert.equal(pool.loads, 4);
      await batching.generate(request(3)); // still resident: no load
      assert.equal(pool.loads, 4);
    });

    it('ends at a stop sequence, streaming exactly the text it returns', async () => {
      const { batching } = await scheduler();
      const free = await batching.generate({ ...request(2), maxTokens: 12 });
      const stop = free.text.slice(4, 6);
      assert.equal(stop.length, 2);
      const pieces: string[] = [];
      const stopped = await batching.generate({
        ...request(2),
        maxTokens: 12,
        stop: [stop],
        onToken: (_, text) => pieces.push(text),
      });
      assert.equal(stopped.finishReason, 'stop');
      assert.equal(stopped.text, free.text.slice(0, free.text.indexOf(stop)));
      assert.equal(pieces.join(''), stopped.text);
      assert.equal(free.finishReason, 'length');
      assert.equal(free.tokens.length, 12);
    });

    it('loads adapters asynchronously without holding up the batch; a failed load fails only its request', async () => {
      const alone = (await (await scheduler()).batching.generate(request(6))).tokens;
      const { batching } = await scheduler();
      // The slow adapter's load completes only once the other request has finished: had the
      // scheduler waited for it, this would never settle.
      let fastDone!: () => void;
      const fastFinished = new Promise<void>((resolve) => (fastDone = resolve));
      const slow = batching.generate({
        ...request(6),
        adapters: [{ id: 'slow', load: () => fastFinished.then(() => adapter(6)) }],
      });
      const broken = assert.rejects(
        batching.generate({
          ...request(7),
          adapters: [{ id: 'broken', load: () => Promise.reject(new Error('blob missing')) }],
        }),
        /blob missing/,
      );
      const fast = await batching.generate(request(8));
      fastDone();
      assert.equal(fast.tokens.length, 8);
      await broken;
      assert.deepEqual((await slow).tokens, alone);
    });

    it('cancels through an AbortSignal and frees the slot', async () => {
      const { batching, pool } = await scheduler({ slots: 2 });
      const controller = new AbortController();
      const cancelled = batching.generate({
        ...request(1),
        maxTokens: 50,
        signal: controller.signal,
        onToken: () => controller.abort(),
      });
      const other = batching.generate(request(4)); // needs the only adapter slot
      assert.equal((await cancelled).finishReason, 'cancelled');
      assert.ok((await cancelled).tokens.length < 50);
      assert.equal((await other).tokens.length, 8);
      assert.ok(pool.canAcquire(['anything']));
    });
  });
}
