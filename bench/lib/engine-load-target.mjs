// The engine as a load target: a BatchScheduler in this process with the worker's serving
// settings (a slot pool over every projection at rank 16, 64 slots, batch 32, a 512 MiB host
// adapter cache), on a model with random weights (speed does not depend on what they say).
// Adapters are made from seeded random factors when the host cache misses them: that stands
// for reading them from storage. More adapters than slots must be swapped in, which is part
// of what is measured.
import { LLAMA_D512_L8 } from './engine-common.mjs';
import { realShapes } from './real-shapes.mjs';
import { randomAdapter, randomWeightReader } from './random-weight-reader.mjs';

/** Models the engine level can run, by name: the default finishes its sweep in minutes on 2 CPU cores. */
const MODELS = {
  'llama-d512-l8': () => LLAMA_D512_L8,
  'gpt2-small-124m': (engine) => realShapes(engine).find((shape) => shape.name === 'gpt2-small-124m').config,
};

/** The worker's defaults (apps/worker: INFER_SLOTS, INFER_MAX_BATCH, INFER_MAX_RANK, ADAPTER_CACHE_BYTES, its scheduler). */
const WORKER_SETTINGS = {
  slots: 64,
  rank: 16,
  hostCacheBytes: 512 * 2 ** 20,
  scheduler: { maxBatch: 32, prefillChunk: 128, maxBatchTokens: 1024 },
};

/**
 * Prompt and output lengths for a model with a long context: mostly chat-sized prompts with
 * some document-sized ones, and short answers with some long ones (means ≈ 86 and ≈ 50 tokens).
 */
const LENGTHS = {
  promptMix: [
    { weight: 0.7, min: 16, max: 64 },
    { weight: 0.3, min: 128, max: 256 },
  ],
  outputMix: [
    { weight: 0.6, min: 8, max: 32 },
    { weight: 0.4, min: 64, max: 128 },
  ],
};

/**
 * `{ describe, workload, concurrency, exactLengths, start(), close() }`: `start()` makes a
 * fresh scheduler, slot pool and host cache (each run starts cold) and returns its
 * `send(request, { onToken })` and `check(requests)`, which fails unless the run's adapters
 * were really loaded into slots and returns their counts.
 */
export async function engineLoadTarget(engine, { model = 'llama-d512-l8', adapters, zipfS, threads }) {
  const configOf = MODELS[model];
  if (!configOf) throw new Error(`unknown engine model ${model}: one of ${Object.keys(MODELS).join(', ')}`);
  const config = configOf(engine);
  const modules = engine.targetModules(config);
  const { slots, rank, hostCacheBytes, scheduler } = WORKER_SETTINGS;
  const weights = new Map();
  const readWeight = randomWeightReader(engine, config, 1);
  for (const name of engine.weightShapes(config).keys()) weights.set(name, await readWeight(name));
  const session = await engine.DecoderSession.load(config, weights, {
    threads,
    lora: { modules, rank, skipUntouched: true },
  });
  const tokenizer = new engine.ByteTokenizer();
  let parameters = 0;
  for (const values of weights.values()) parameters += values.length;
  weights.clear();

  return {
    describe: {
      model: { name: model, parameters, config },
      adapters: { count: adapters, zipf_s: zipfS, rank, modules, slots, host_cache_mib: hostCacheBytes / 2 ** 20 },
      scheduler,
      threads,
      note: 'BatchScheduler in the load generator’s process; every run starts with empty slots and host cache',
    },
    workload: { ...LENGTHS, adapters, zipfS },
    // The closed-loop probe keeps a full batch running and as many queued.
    concurrency: 2 * scheduler.maxBatch,
    exactLengths: true,
    start() {
      const pool = new engine.SlotPool(config, { slots: slots + 1, rank, modules });
      const cache = new engine.AdapterCache(hostCacheBytes, async (id) =>
        randomAdapter(engine, config, modules, rank, 1000 + Number(id.split('-')[1])),
      );
      const batchScheduler = new engine.BatchScheduler(session, pool, tokenizer, scheduler);
      const loaded = new Set();
      return {
        async send(request, { onToken }) {
          const id = `adapter-${request.adapter}`;
          const result = await batchScheduler.generate({
            prompt: request.prompt,
            maxTokens: request.outputTokens,
            ignoreEndOfText: true,
            adapters: [
              {
                id,
                load: () => {
                  loaded.add(id);
                  return cache.get(id);
                },
              },
            ],
            onToken,
          });
          return { outputTokens: result.tokens.length };
        },
        check(requests) {
          const drawn = new Set(requests.map((r) => `adapter-${r.adapter}`));
          // A fresh pool and cache: every distinct adapter drawn is at least one storage read and one slot load.
          const problems = [];
          if ([...drawn].some((id) => !loaded.has(id)) || loaded.size !== drawn.size)
            problems.push(`${loaded.size} adapters loaded by requests, ${drawn.size} drawn`);
          if (pool.loads < drawn.size) problems.push(`${pool.loads} slot loads for ${drawn.size} distinct adapters`);
          if (cache.misses < drawn.size) problems.push(`${cache.misses} host cache misses for ${drawn.size} adapters`);
          if (problems.length) throw new Error(`engine load run: ${problems.join('; ')}`);
          return { distinct_adapters: drawn.size, slot_loads: pool.loads, host_cache_misses: cache.misses };
        },
      };
    },
    close: () => session.release(),
  };
}
