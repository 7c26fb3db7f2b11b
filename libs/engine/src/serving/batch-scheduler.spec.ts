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
import { BatchScheduler, type GenerateRequest, type SchedulerOptions } from './batch-scheduler.js';
import { sampleToken } from './sampling.js';
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

  async function scheduler(
    options: { slots?: number; maxBatch?: number; prefillChunk?: number; skipUntouched?: boolean } & Pick<
      SchedulerOptions,
      'kvCache' | 'prefixCache'
    > = {},
  ) {
    const session = await DecoderSession.load(config, baseWeights, {
      threads: 1,
      lora: { modules, rank: RANK, skipUntouched: options.skipUntouched ?? false },
    });
    const pool = new SlotPool(config, { slots: options.slots ?? 33, rank: RANK, modules });
    const batching = new BatchScheduler(session, pool, tokenizer, {
      maxBatch: options.maxBatch ?? 32,
      prefillChunk: options.prefillChunk ?? 64,
      maxBatchTokens: 512,
      ...(options.kvCache ? { kvCache: options.kvCache } : {}),
      ...(options.prefixCache ? { prefixCache: true } : {}),
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
    it('refuses scheduler sizes that are missing or not positive integers', async () => {
      const session = await DecoderSession.load(config, baseWeights, { threads: 1 });
      const sizes = { maxBatch: 4, prefillChunk: 64, maxBatchTokens: 512 };
      for (const [size, value] of [
        ['maxBatchTokens', undefined],
        ['prefillChunk', 0],
        ['maxBatch', 2.5],
      ] as const)
        assert.throws(
          () => new BatchScheduler(session, null, tokenizer, { ...sizes, [size]: value } as SchedulerOptions),
          new RegExp(`scheduler option ${size} must be a positive integer`),
        );
      assert.ok(new BatchScheduler(session, null, tokenizer, sizes));
    });

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

    /** Greedy tokens of a plain full recompute with `lora` merged on the projections it holds (and no others). */
    function referenceTokens(lora: LoraAdapter, prompt: readonly number[], steps: number): number[] {
      const pools = new Map<string, LoraPool>();
      for (const key of lora.factors.keys()) {
        const module = key.replace(/^[a-z]+\.\d+\./, '') as TargetModule;
        const [dIn, dOut] = projectionShape(config, module);
        const { a, b } = slotFactors(lora, key, dIn, dOut, RANK);
        pools.set(key, { a, b, slots: 1, rank: RANK, dIn, dOut });
      }
      const sequence = [...prompt];
      const expected: number[] = [];
      for (let step = 0; step < steps; step++) {
        const gates = new Float32Array(sequence.length).fill(1);
        const { logits } = referenceForward(config, baseWeights, [sequence], { pools, slots: [[0]], gates });
        const next = argmax(logits.subarray((sequence.length - 1) * config.vocabSize));
        expected.push(next);
        sequence.push(next);
      }
      return expected;
    }

    it('produces the tokens of a plain full recompute with the adapter merged, α/r and rank padding included', async () => {
      const small = adapter(5, 2); // rank 2 in a rank-4 pool
      const { batching } = await scheduler();
      const result = await batching.generate({
        prompt: prompts[5]!,
        adapters: [{ id: 'small', load: () => small }],
        maxTokens: 6,
      });
      assert.deepEqual(result.tokens, referenceTokens(small, prompts[5]!, 6));
    });

    it('serves adapters placed on different layers and projections in one batch, each row as its own recompute, skipping untouched projections or not', async () => {
      // Per-layer placements (as target_modules "auto" chooses them): a slot's absent projections are zeros.
      const keys = [...adapter(0).factors.keys()];
      const placements = [[keys[0]!], [keys.at(-1)!], keys.filter((_, i) => i % 3 === 1), keys.slice(0, 2)];
      const placed = placements.map((held, i) => {
        const full = adapter(20 + i);
        const factors = new Map([...full.factors].filter(([key]) => held.includes(key)));
        return { ...full, targetModules: modules.filter((m) => held.some((key) => key.endsWith(m))), factors };
      });
      const expected = placed.map((lora, i) => referenceTokens(lora, prompts[i]!, 6));
      assert.ok(
        keys.some((key) => !placements.flat().includes(key)),
        'some projection is untouched by every adapter: the skip has something to skip',
      );
      for (const skipUntouched of [false, true]) {
        const { batching } = await scheduler({ skipUntouched });
        const together = await Promise.all(
          placed.map((lora, i) =>
            batching.generate({
              prompt: prompts[i]!,
              adapters: [{ id: `placed-${i}`, load: () => lora }],
              maxTokens: 6,
            }),
          ),
        );
        assert.deepEqual(
          together.map((r) => r.tokens),
          expected,
          `skipUntouched ${skipUntouched}`,
        );
      }
      const base = placed.map((lora, i) => referenceTokens({ ...lora, factors: new Map() }, prompts[i]!, 6));
      assert.notDeepEqual(expected, base, 'the placements changed nothing: the check would be vacuous');
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

    it('reads an adapter a slot holds only if it leaves its slot before the request is admitted', async () => {
      const alone = (await (await scheduler()).batching.generate(request(1))).tokens;
      const { batching, pool } = await scheduler({ slots: 2, maxBatch: 1 }); // one adapter slot
      let reads = 0;
      const counted = (i: number): GenerateRequest =>
        request(i, { adapters: [{ id: `adapter-${i}`, load: () => (reads++, adapter(i)) }] });
      await batching.generate(counted(1));
      assert.equal(reads, 1);
      await batching.generate(counted(1));
      assert.equal(reads, 1, 'the slot held it: no second read');
      // Adapter 1 is resident when its second request arrives, but adapter 2 (queued first) takes the slot.
      const [, again] = await Promise.all([batching.generate(counted(2)), batching.generate(counted(1))]);
      assert.equal(reads, 3, 'adapter 2 read once, adapter 1 read again after leaving its slot');
      assert.deepEqual(again.tokens, alone);
      assert.equal(pool.loads, 3);
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

    it('gives rows that join and leave a running batch at different times the tokens they get alone', async () => {
      const lengths = [3, 11, 6, 9, 2, 14];
      const alone: number[][] = [];
      for (const [i, maxTokens] of lengths.entries())
        alone.push((await (await scheduler()).batching.generate({ ...request(i), maxTokens })).tokens);
      const { batching } = await scheduler({ kvCache: { blockSize: 4, budgetTokens: 512 } });
      // Each request arrives after the previous one produced its second token: rows join a
      // running batch mid-decode and leave it while others go on.
      const results: Promise<{ tokens: number[] }>[] = [];
      const start = (i: number) => {
        let emitted = 0;
        results.push(
          batching.generate({
            ...request(i),
            maxTokens: lengths[i]!,
            onToken: () => {
              if (++emitted === 2 && i + 1 < lengths.length) start(i + 1);
            },
          }),
        );
      };
      start(0);
      while (results.length < lengths.length) await Promise.all(results);
      assert.deepEqual(
        (await Promise.all(results)).map((r) => r.tokens),
        alone,
      );
      assert.equal(batching.stats().kv.blocksUsed, 0, 'every block is free again');
    });

    it('queues requests while the KV budget is full and serves them as blocks free up', async () => {
      const alone = await Promise.all(
        [0, 1, 2, 3, 4].map(async (i) => (await (await scheduler()).batching.generate(request(i))).tokens),
      );
      // Room for two requests' prompt and output at a time (prompts ≤ 24 tokens + 8 generated).
      const budget = { blockSize: 4, budgetTokens: 64 };
      const { batching } = await scheduler({ kvCache: budget });
      let most = 0;
      const results = await Promise.all(
        [0, 1, 2, 3, 4].map((i) =>
          batching.generate({ ...request(i), onToken: () => (most = Math.max(most, batching.stats().kv.blocksUsed)) }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.tokens),
        alone,
      );
      assert.ok(most <= 16 && most > 0, `${most} blocks in use at once`);
      await assert.rejects(
        batching.generate({ ...request(1), maxTokens: 60 }),
        /needs \d+ tokens of KV cache .*budget is 64/,
      );
    });

    it("samples from the last position's logits exactly as a full recompute does (temperature, top-p, seed, penalties, biases)", async () => {
      // Penalties on what the completion holds so far, and a bias towards 'a': both change the draws.
      const sampling = {
        temperature: 0.9,
        topP: 0.95,
        seed: 7,
        presencePenalty: 0.5,
        frequencyPenalty: 0.3,
        logitBias: { 97: 1.5 },
      };
      const { batching } = await scheduler();
      const result = await batching.generate({ ...request(3, { adapters: [] }), maxTokens: 10, sampling });
      const random = seededRandom(7);
      const sequence = [...prompts[3]!];
      for (let step = 0; step < 10; step++) {
        const { logits } = referenceForward(config, baseWeights, [sequence]);
        const generated = sequence.slice(prompts[3]!.length);
        sequence.push(sampleToken(logits.slice((sequence.length - 1) * config.vocabSize), sampling, random, generated));
      }
      assert.deepEqual(result.tokens, sequence.slice(prompts[3]!.length));
    });

    it("reports each token's log-probability and the top alternatives as the reference's log-softmax", async () => {
      const { batching } = await scheduler();
      const result = await batching.generate({ ...request(5, { adapters: [] }), maxTokens: 6, logprobs: 3 });
      assert.equal(result.logprobs?.length, result.tokens.length);
      const sequence = [...prompts[5]!, ...result.tokens];
      const { logits } = referenceForward(config, baseWeights, [sequence]);
      result.logprobs!.forEach((entry, i) => {
        const row = logits.slice((prompts[5]!.length - 1 + i) * config.vocabSize).subarray(0, config.vocabSize);
        const logZ = Math.log(row.reduce((sum, value) => sum + Math.exp(value), 0));
        assert.equal(entry.token, result.tokens[i]);
        assert.ok(Math.abs(entry.logprob - (row[entry.token]! - logZ)) < 1e-4, `${entry.logprob} at ${i}`);
        assert.equal(entry.top.length, 3);
        assert.equal(entry.top[0]!.token, entry.token, 'greedy picks the most likely');
        for (const alternative of entry.top)
          assert.ok(Math.abs(alternative.logprob - (row[alternative.token]! - logZ)) < 1e-4);
        assert.ok(entry.top[0]!.logprob >= entry.top[1]!.logprob && entry.top[1]!.logprob >= entry.top[2]!.logprob);
      });
    });

    describe('prefix cache', () => {
      const kvCache = { blockSize: 4, budgetTokens: 1024 };
      const shared = tokenizer.encode('You are a helpful assistant. Answer briefly. ');
      const prompt = (i: number) => [...shared, ...tokenizer.encode(`question ${i}?`)];
      /** An adapter on one projection of the last layer that makes neither keys nor values: the cache is the base model's. */
      const lastLayerOnly = (seed: number): LoraAdapter => {
        const full = adapter(seed);
        const module = modules.find((m) => !/k_proj|v_proj|c_attn/.test(m))!;
        const key = projectionKey(config, config.nLayers - 1, module);
        return { ...full, targetModules: [module], factors: new Map([[key, full.factors.get(key)!]]) };
      };
      const generate = (
        batching: BatchScheduler,
        i: number,
        scope: string,
        adapters: GenerateRequest['adapters'] = [],
      ) => batching.generate({ prompt: prompt(i), adapters, maxTokens: 6, cacheScope: scope });

      it('reuses a shared prefix within a scope, with the tokens of an uncached run', async () => {
        const uncached = await scheduler({ kvCache });
        const expected = [];
        for (const i of [0, 1, 2]) expected.push((await generate(uncached.batching, i, 'tenant-a')).tokens);
        const { batching } = await scheduler({ kvCache, prefixCache: true });
        const got = [];
        for (const i of [0, 1, 2]) got.push((await generate(batching, i, 'tenant-a')).tokens);
        assert.deepEqual(got, expected);
        const { prefixCache } = batching.stats();
        const common = prompt(0).findIndex((token, j) => token !== prompt(1)[j]);
        const sharedBlocks = Math.floor(common / kvCache.blockSize);
        assert.equal(
          prefixCache.hitTokens,
          2 * sharedBlocks * kvCache.blockSize,
          'the 2nd and 3rd reuse the shared blocks',
        );
        assert.equal(uncached.batching.stats().prefixCache.hitTokens, 0);
      });

      it('never shares blocks across scopes, nor across adapters that change keys and values', async () => {
        const { batching } = await scheduler({ kvCache, prefixCache: true });
        const hits = () => batching.stats().prefixCache.hitTokens;
        await generate(batching, 0, 'tenant-a');
        await generate(batching, 0, 'tenant-b');
        assert.equal(hits(), 0, "another tenant read tenant-a's blocks");
        const withA = [{ id: 'a', load: () => adapter(1) }];
        const withB = [{ id: 'b', load: () => adapter(2) }];
        await generate(batching, 0, 'tenant-a', withA);
        assert.equal(hits(), 0, "an adapter on every layer reused the base model's blocks");
        const aloneB = (
          await (await scheduler({ kvCache })).batching.generate({ prompt: prompt(0), adapters: withB, maxTokens: 6 })
        ).tokens;
        assert.deepEqual((await generate(batching, 0, 'tenant-a', withB)).tokens, aloneB);
        assert.equal(hits(), 0, "adapter b reused adapter a's blocks");
        await generate(batching, 1, 'tenant-a', withA);
        assert.ok(hits() > 0, 'the same adapter in the same scope reuses its blocks');
        const reweighted = [{ id: 'a', load: () => adapter(1), weight: 0.5 }];
        const before = hits();
        await generate(batching, 2, 'tenant-a', reweighted);
        assert.equal(hits(), before, 'a different gate on the same adapter reused its blocks');
      });

      it("shares the base model's blocks with an adapter that leaves keys and values alone, with the tokens it gets alone", async () => {
        const adapters = [{ id: 'q', load: () => lastLayerOnly(4) }];
        const alone = (
          await (await scheduler({ kvCache })).batching.generate({ prompt: prompt(1), adapters, maxTokens: 6 })
        ).tokens;
        const { batching } = await scheduler({ kvCache, prefixCache: true });
        await generate(batching, 0, 'tenant-a');
        assert.deepEqual((await generate(batching, 1, 'tenant-a', adapters)).tokens, alone);
        assert.ok(batching.stats().prefixCache.hitTokens > 0);
      });

      it('evicts cached blocks least recently used when the budget needs them, and drops those of a deleted adapter', async () => {
        // Room for about two prompts' blocks beyond one running request.
        const { batching } = await scheduler({ kvCache: { blockSize: 4, budgetTokens: 96 }, prefixCache: true });
        for (const i of [0, 1, 2, 3, 4]) await generate(batching, i, `tenant-${i}`);
        assert.ok(batching.stats().kv.blocksUsed <= 24);
        const withA = [{ id: 'tenant-x/a', load: () => adapter(1) }];
        await generate(batching, 0, 'tenant-x', withA);
        const cached = batching.stats().prefixCache.cachedBlocks;
        assert.ok(batching.dropCachedPrefixes((id) => id.split('/').includes('a')) > 0);
        assert.ok(batching.stats().prefixCache.cachedBlocks < cached);
        await generate(batching, 1, 'tenant-x', withA);
        assert.equal(batching.stats().prefixCache.hitTokens, 0);
      });
    });
  });
}
