// The GPU run (issue 20), meant for the device machine: `bench/gpu/run.sh` unpacks the bundle
// `bench/gpu/pack.mjs` made and starts this with the node it carried. It measures, on the
// execution provider GPU_PROVIDER (webgpu | cuda; cpu for the smoke run here):
//   1. correctness: a small random Llama's prefill logits on the provider against CPU, fp32;
//   2. serving at the TinyLlama-1.1B shape (random weights, fp32: fp16 graphs are not built):
//      decode tokens/s and ITL at 1, 32 and 256 concurrent requests, each on one of 100 rank-16
//      adapters, against the base model alone at the same load;
//   3. one LoRA training step's time (d512 Llama: the training graph holds its weights inline).
// It writes the figures issue 20 names to GPU_OUT (default bench/results/gpu.json).
// GPU_QUICK=1 swaps the TinyLlama shape for a small one and cuts every count: a smoke run that
// checks the script end to end on CPU in a minute (the test beside it runs it).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LLAMA_D512_L8, machine, median, promptOf, randomWeights } from '../lib/engine-common.mjs';
import { randomAdapter, randomWeightReader } from '../lib/random-weight-reader.mjs';
import { TINYLLAMA_SHAPE } from '../lib/real-shapes.mjs';

const PROVIDER = process.env.GPU_PROVIDER ?? 'webgpu';
const QUICK = process.env.GPU_QUICK === '1';
const OUT = process.env.GPU_OUT ?? path.join(import.meta.dirname, '../results/gpu.json');
const THREADS = Number(process.env.GPU_THREADS ?? os.availableParallelism());

const SMALL = { ...LLAMA_D512_L8, dModel: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 256 };

const PLAN = QUICK
  ? { shape: ['llama-d128-l2', SMALL], adapters: 6, concurrency: [1, 4, 8], promptTokens: 8, newTokens: 6 }
  : {
      shape: ['tinyllama-1.1b', TINYLLAMA_SHAPE],
      adapters: 100,
      concurrency: [1, 32, 256],
      promptTokens: 32,
      newTokens: 32,
    };
const RANK = 16;
const MODULES = ['self_attn.q_proj', 'self_attn.v_proj'];
/** Relative error allowed for the fp32 graph on the provider (issue 20). */
const FP32_TOLERANCE = 1e-3;

const log = (line) => console.log(`▸ ${line}`);
const engine = await import('@tessera/engine');
const provider = await engine.probeExecutionProvider(PROVIDER, (line) => log(line));
log(`provider ${provider.active} (asked ${provider.requested}) on ${provider.device.name}`);
const results = {
  machine: machine(engine, provider.active),
  provider: provider.active,
  requested_provider: provider.requested,
  ...(provider.fallback ? { fallback: provider.fallback } : {}),
  device: provider.device.name,
  device_memory_bytes: provider.device.memoryBytes,
  quick: QUICK,
};
const sessions = { threads: THREADS, executionProvider: provider.active };
// A GPU run that fell back to CPU would measure the wrong machine: it records why and stops
// (the quick smoke run goes on, on CPU, to check the script itself).
if (provider.fallback && !QUICK) {
  await writeFile(OUT, JSON.stringify(results, null, 2) + '\n');
  console.error(`${PROVIDER} could not start (${provider.fallback}): nothing measured; see ${OUT}`);
  process.exit(2);
}

results.correctness = await correctness();
results.max_abs_error_fp32 = results.correctness.maxAbsError;
log(`fp32 logits on ${provider.active} vs CPU: max abs ${results.max_abs_error_fp32.toExponential(2)}`);
Object.assign(results, await serving());
results.training = await trainingStep();
results.fp16 = 'not built: the engine builds fp32 graphs (and int8/int4 MatMulNBits); fp16 graphs are issue 20 work';
await writeFile(OUT, JSON.stringify(results, null, 2) + '\n');
log(`written to ${OUT}`);

/** Prefill logits of a small random Llama, on the provider and on CPU: the largest difference, absolute and relative. */
async function correctness() {
  const config = { ...LLAMA_D512_L8, nLayers: 2 };
  const weights = randomWeights(engine, config, 7);
  const ids = [Array.from({ length: 24 }, (_, i) => (i * 37 + 5) % config.vocabSize)];
  const input = { ids, positions: [ids[0].map((_, t) => t)], attentionMask: [ids[0].map(() => 1)] };
  const logitsOn = async (executionProvider) => {
    const session = await engine.DecoderSession.load(config, weights, { threads: THREADS, executionProvider });
    const { logits } = await session.forward(input);
    await session.release();
    return logits;
  };
  const cpu = await logitsOn('cpu');
  const device = await logitsOn(provider.active);
  let maxAbsError = 0;
  let scale = 0;
  for (let i = 0; i < cpu.length; i++) {
    maxAbsError = Math.max(maxAbsError, Math.abs(cpu[i] - device[i]));
    scale = Math.max(scale, Math.abs(cpu[i]));
  }
  const relative = maxAbsError / scale;
  if (!(relative <= FP32_TOLERANCE))
    throw new Error(`fp32 logits on ${provider.active} differ from CPU by ${relative} relative (> ${FP32_TOLERANCE})`);
  return { model: 'llama d512, 2 layers, random', tokens: ids[0].length, maxAbsError, maxRelativeError: relative };
}

/**
 * Decode speed at each concurrency, with adapters (request i on adapter i mod N, all resident
 * after the warm-up) and on the base model alone, from one weight file written here.
 */
async function serving() {
  const [shapeName, config] = PLAN.shape;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-gpu-'));
  try {
    log(`${shapeName}: writing the fp32 weight file`);
    const file = await engine.writeWeightFile(dir, config, randomWeightReader(engine, config, 1), 'fp32');
    const maxBatch = Math.max(...PLAN.concurrency);
    const scheduling = { maxBatch, prefillChunk: 256, maxBatchTokens: maxBatch * PLAN.promptTokens };
    const base = await engine.DecoderSession.load(config, file, sessions);
    const lora = await engine.DecoderSession.load(config, file, {
      ...sessions,
      lora: { modules: MODULES, rank: RANK },
    });
    const cache = new engine.AdapterCache(Infinity, async (id) =>
      randomAdapter(engine, config, MODULES, RANK, 100 + Number(id.split('-')[1])),
    );
    const pool = new engine.SlotPool(config, {
      slots: PLAN.adapters + 1,
      rank: RANK,
      modules: MODULES,
      onLoaded: (id) => cache.evict(id),
    });
    const schedulers = {
      base: new engine.BatchScheduler(base, null, new engine.ByteTokenizer(), scheduling),
      lora: new engine.BatchScheduler(lora, pool, new engine.ByteTokenizer(), scheduling),
    };
    // Warm-up: every adapter into its slot, and both sessions' first passes.
    await Promise.all(
      Array.from({ length: PLAN.adapters }, (_, i) =>
        schedulers.lora.generate(request(i, 2, cache)).then(() => undefined),
      ),
    );
    await schedulers.base.generate(request(0, 2, null));
    if (pool.loads !== PLAN.adapters)
      throw new Error(`${PLAN.adapters} adapters filled ${pool.loads} slots: the run would not measure them`);
    const byConcurrency = {};
    for (const concurrency of PLAN.concurrency) {
      const figures = {};
      for (const kind of ['base', 'lora']) {
        const loadsBefore = pool.loads;
        figures[kind] = await decodeAt(schedulers[kind], concurrency, kind === 'lora' ? cache : null);
        if (pool.loads !== loadsBefore) throw new Error('an adapter left its slot during the run');
        log(
          `${shapeName} ${kind} at ${concurrency}: ${figures[kind].tokensPerSecond.toFixed(1)} tokens/s, ITL ${figures[kind].itlMs.toFixed(1)} ms`,
        );
      }
      byConcurrency[concurrency] = figures;
    }
    // Issue 19's hetero speedup where prefill is not compute-bound: the middle concurrency's
    // requests on as many distinct adapters, together (measured above) against one at a time.
    const at = (c, kind) => byConcurrency[c][kind].tokensPerSecond;
    const [low, mid, high] = PLAN.concurrency;
    let sequentialSeconds = 0;
    for (let i = 0; i < mid; i++) sequentialSeconds += (await decodeAt(schedulers.lora, 1, cache, i)).wallSeconds;
    await Promise.all([base.release(), lora.release()]);
    return {
      serving: { shape: shapeName, config, precision: 'fp32', plan: PLAN, rank: RANK, modules: MODULES, byConcurrency },
      decode_tokens_per_s: Object.fromEntries(PLAN.concurrency.map((c) => [c, at(c, 'lora')])),
      base_decode_tokens_per_s: Object.fromEntries(PLAN.concurrency.map((c) => [c, at(c, 'base')])),
      itl_ms: Object.fromEntries(PLAN.concurrency.map((c) => [c, byConcurrency[c].lora.itlMs])),
      lora_over_base_1: at(low, 'lora') / at(low, 'base'),
      [`hetero_speedup_${mid}`]: sequentialSeconds / byConcurrency[mid].lora.wallSeconds,
      [`lora_over_base_${mid}`]: at(mid, 'lora') / at(mid, 'base'),
      [`lora_over_base_${high}`]: at(high, 'lora') / at(high, 'base'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Request i: on adapter i mod N from `adapters` (the host cache), or on the base model when null. */
function request(i, maxTokens, adapters) {
  const id = `adapter-${i % PLAN.adapters}`;
  return {
    prompt: promptOf(`Request ${i}: a short note about the weather `, PLAN.promptTokens),
    maxTokens,
    ignoreEndOfText: true,
    ...(adapters ? { adapters: [{ id, load: () => adapters.get(id) }] } : {}),
  };
}

/**
 * `concurrency` requests started together; decode tokens/s from every row's second token to
 * the last one (the prefill left out), the median gap between a row's tokens, and the wall time
 * of the whole requests. Every row must generate exactly newTokens tokens; request numbers
 * start at `first`.
 */
async function decodeAt(scheduler, concurrency, adapters, first = 0) {
  const rows = Array.from({ length: concurrency }, () => []);
  const started = performance.now();
  const done = await Promise.all(
    rows.map((times, i) =>
      scheduler.generate({
        ...request(first + i, PLAN.newTokens, adapters),
        onToken: () => times.push(performance.now()),
      }),
    ),
  );
  for (const [i, result] of done.entries())
    if (result.tokens.length !== PLAN.newTokens || rows[i].length !== PLAN.newTokens)
      throw new Error(`a request generated ${result.tokens.length} tokens, ${PLAN.newTokens} expected`);
  const start = Math.min(...rows.map((times) => times[1]));
  const end = Math.max(...rows.map((times) => times.at(-1)));
  const gaps = rows.flatMap((times) => times.slice(1).map((t, j) => t - times[j]));
  return {
    tokensPerSecond: (concurrency * (PLAN.newTokens - 2)) / ((end - start) / 1000),
    itlMs: median(gaps),
    /** Whole requests, prefill included. */
    wallSeconds: (end - started) / 1000,
  };
}

/** One LoRA fine-tune step's time on the provider: the median of the steps after the first. */
async function trainingStep() {
  const [name, config] = QUICK ? ['llama d128, 2 layers', SMALL] : ['llama d512, 8 layers', LLAMA_D512_L8];
  const steps = QUICK ? 2 : 4;
  const records = Array.from({ length: 64 }, (_, i) => ({ text: `Record ${i}: ${'the quick brown fox '.repeat(8)}` }));
  const started = performance.now();
  const { metrics } = await engine.train({
    model: { config, weights: randomWeights(engine, config, 3), tokenizer: new engine.ByteTokenizer() },
    data: records,
    hyperparameters: {
      rank: RANK,
      alpha: RANK,
      batchSize: 8,
      maxSequenceLength: 128,
      maxSteps: steps,
      validationFraction: 0,
      warmupSteps: 1,
      seed: 1,
    },
    ...sessions,
  });
  const seconds = (performance.now() - started) / 1000;
  log(`LoRA training on ${provider.active}: ${metrics.tokensPerSecond.toFixed(0)} tokens/s`);
  return {
    model: `${name}, random; rank 16, batch 8 × 128 tokens`,
    steps,
    seconds,
    tokens_per_second: metrics.tokensPerSecond,
    step_seconds: (8 * 128) / metrics.tokensPerSecond,
  };
}
