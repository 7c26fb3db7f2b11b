// Engine serving: multi-adapter continuous batching against its baselines, side by side in
// one process, on a small GPT-2 style model and a larger Llama style one (random weights:
// speed does not depend on what the weights say). Every figure is a ratio of two runs made
// here, or a latency distribution; bench/results/engine.json keeps them with the machine.
// Then the production shapes from weight files at each precision (lib/real-shapes.mjs).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build, ensureInstalled, ROOT, step } from '../infra/scripts/lib/run.mjs';
import {
  forwardFlops,
  LLAMA_D512_L8,
  machine,
  matmulGflops,
  median,
  PEFT_DEFAULT_TARGETS,
  percentile,
  randomWeights,
  timed,
} from './lib/engine-common.mjs';
import { zipfSampler } from './lib/load-generator.mjs';
import { quantizedPerplexity } from './lib/quantized-perplexity.mjs';
import { printRealShapes, realShapeFigures } from './lib/real-shapes.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const THREADS = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const EXECUTION_PROVIDER = process.env.BENCH_EP ?? 'cpu';
const RANK = 16;
const REQUESTS = 32;
const NEW_TOKENS = QUICK ? 8 : 64;
const ROUNDS = QUICK ? 1 : Number(process.env.BENCH_ROUNDS ?? 3);

const MODELS = [
  {
    name: 'gpt2-d256-l4',
    config: {
      architecture: 'gpt2',
      vocabSize: 257,
      dModel: 256,
      nLayers: 4,
      nHeads: 4,
      maxPositions: 1024,
      normEps: 1e-5,
    },
  },
  {
    name: 'llama-d512-l8',
    config: LLAMA_D512_L8,
  },
];

export default async function engineBench() {
  ensureInstalled();
  build();
  const engine = await import('@tessera/engine');
  const results = {
    machine: machine(engine, EXECUTION_PROVIDER),
    settings: {
      threads: THREADS,
      executionProvider: EXECUTION_PROVIDER,
      rank: RANK,
      requests: REQUESTS,
      newTokens: NEW_TOKENS,
    },
    models: {},
  };
  const matmul = await matmulGflops(engine, { threads: THREADS, executionProvider: EXECUTION_PROVIDER });
  step(`plain MatMul ${matmul.n}×${matmul.n}: ${matmul.gflops.toFixed(1)} GFLOP/s`);
  const only = process.env.BENCH_MODELS?.split(',');
  // Other work on the machine slows every figure: the 1, 5 and 15 minute load averages around these runs.
  const modelsLoad = { before: os.loadavg() };
  for (const model of MODELS.filter((m) => !only || only.includes(m.name))) {
    step(`${model.name}: building`);
    results.models[model.name] = await benchModel(engine, model, matmul);
  }
  if (Object.keys(results.models).length) results.models_load = { ...modelsLoad, after: os.loadavg() };
  // BENCH_REAL_SHAPES: none, or a comma list of shape names; BENCH_PRECISIONS likewise (fp32,int8,int4).
  if (process.env.BENCH_REAL_SHAPES !== 'none') {
    Object.assign(
      results,
      await realShapeFigures(engine, {
        quick: QUICK,
        threads: THREADS,
        executionProvider: EXECUTION_PROVIDER,
        only: process.env.BENCH_REAL_SHAPES?.split(','),
        ...(process.env.BENCH_PRECISIONS ? { precisions: process.env.BENCH_PRECISIONS.split(',') } : {}),
      }),
    );
  }
  // BENCH_PERPLEXITY=none skips the demo model's held-out perplexity at each precision.
  if (process.env.BENCH_PERPLEXITY !== 'none' && !QUICK)
    Object.assign(results, await quantizedPerplexity(engine, { threads: THREADS }));
  results.cuda =
    EXECUTION_PROVIDER === 'cuda'
      ? 'ran with BENCH_EP=cuda (see machine.executionProvider for what the session got)'
      : 'not run here: no NVIDIA GPU on this machine; BENCH_EP=cuda runs the same benchmark with the CUDA execution provider';
  printTable(results);
  printRealShapes(results);
  const failures = results.real_shapes_run?.failures ?? [];
  if (QUICK) {
    // A smoke run keeps the committed figures.
    if (failures.length) throw new Error(`real shapes failed: ${failures.join('; ')}`);
    return;
  }
  mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const file = path.join(ROOT, 'bench/results/engine.json');
  const previous = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  writeFileSync(file, JSON.stringify(mergeResults(previous, results), null, 2) + '\n');
  console.log('written to bench/results/engine.json');
  if (failures.length) throw new Error(`real shapes failed: ${failures.join('; ')}`);
}

/**
 * What this run measured over what the file held: models and shapes it did not run (BENCH_MODELS,
 * BENCH_REAL_SHAPES) and figures other runs write (the quantized perplexity ratios) stay.
 */
function mergeResults(previous, results) {
  return {
    ...previous,
    ...results,
    models: { ...previous.models, ...results.models },
    ...(previous.real_shapes || results.real_shapes ? { real_shapes: mergeShapes(previous, results) } : {}),
  };
}

/** Per shape, the precisions this run measured over those it did not (BENCH_PRECISIONS). */
function mergeShapes(previous, results) {
  const merged = { ...previous.real_shapes };
  for (const [name, shape] of Object.entries(results.real_shapes ?? {})) merged[name] = { ...merged[name], ...shape };
  return merged;
}

async function benchModel(engine, { name, config }, matmul) {
  const weights = randomWeights(engine, config, 1);
  const baseSession = await engine.DecoderSession.load(config, weights, {
    threads: THREADS,
    executionProvider: EXECUTION_PROVIDER,
  });
  const peft = await adapterFigures(
    engine,
    name,
    config,
    weights,
    baseSession,
    PEFT_DEFAULT_TARGETS[config.architecture],
    'PEFT default targets',
  );
  const all = await adapterFigures(
    engine,
    name,
    config,
    weights,
    baseSession,
    engine.targetModules(config),
    'every projection',
  );

  // Prefill throughput against the plain MatMul measured in the same run.
  const prefillRows = 4;
  const prefillTokens = 256;
  const prefillIds = Array.from({ length: prefillRows }, (_, b) =>
    Array.from({ length: prefillTokens }, (_, t) => (b * 31 + t * 7) % 256),
  );
  const prefillInput = {
    ids: prefillIds,
    positions: prefillIds.map((row) => row.map((_, t) => t)),
    attentionMask: prefillIds.map((row) => row.map(() => 1)),
  };
  const prefillSeconds = [];
  for (let i = 0; i < 5; i++) prefillSeconds.push((await timed(() => baseSession.forward(prefillInput))).seconds);
  const prefillFlops = forwardFlops(engine, config, prefillRows, prefillTokens);
  const prefillGflops = prefillFlops / median(prefillSeconds) / 1e9;

  return {
    config,
    adapterTargets: peft.modules,
    hetero_speedup: peft.hetero_speedup,
    lora_overhead_ratio: peft.lora_overhead_ratio,
    scale_ratio: peft.scale_ratio,
    cold_load_ms_p50: peft.cold_load_ms_p50,
    cold_load_ms_p99: peft.cold_load_ms_p99,
    prefill_gflops_ratio: prefillGflops / matmul.gflops,
    every_projection: {
      adapterTargets: all.modules,
      hetero_speedup: all.hetero_speedup,
      lora_overhead_ratio: all.lora_overhead_ratio,
      scale_ratio: all.scale_ratio,
      cold_load_ms_p50: all.cold_load_ms_p50,
      cold_load_ms_p99: all.cold_load_ms_p99,
      detail: all.detail,
    },
    detail: {
      ...peft.detail,
      prefill: {
        rows: prefillRows,
        tokens: prefillTokens,
        gflop: prefillFlops / 1e9,
        gflopsPerSecond: prefillGflops,
        matmulGflopsPerSecond: matmul.gflops,
      },
    },
  };
}

/**
 * The serving figures for adapters on `modules`: the three runs of hetero_speedup and
 * lora_overhead_ratio alternated over ROUNDS (medians), the 8 vs 1,000 adapter runs
 * alternated too, and cold loads.
 */
async function adapterFigures(engine, name, config, weights, baseSession, modules, label) {
  const { AdapterCache, BatchScheduler, ByteTokenizer, DecoderSession, SlotPool } = engine;
  step(`${name}, adapters on ${label} (${modules.join(', ')}): building`);
  const loraSession = await DecoderSession.load(config, weights, {
    threads: THREADS,
    executionProvider: EXECUTION_PROVIDER,
    lora: { modules, rank: RANK },
  });
  const tokenizer = new ByteTokenizer();
  const prompts = Array.from({ length: REQUESTS }, (_, i) =>
    tokenizer.encode(`Request ${i}: tell me about adapter number ${i}, ${'please '.repeat(i % 4)}`),
  );
  const adapters = Array.from({ length: REQUESTS }, (_, i) => randomAdapter(engine, config, modules, 100 + i));
  const schedulerOptions = { maxBatch: REQUESTS, prefillChunk: 256, maxBatchTokens: 4096 };
  // Every adapter pool the side-by-side runs use: each must have loaded adapters, or those
  // runs served the base model and the ratios compare nothing.
  const loraPools = [];
  const newScheduler = (session) => {
    const pool = session === baseSession ? null : new SlotPool(config, { slots: REQUESTS + 1, rank: RANK, modules });
    if (pool) loraPools.push(pool);
    return new BatchScheduler(session, pool, tokenizer, schedulerOptions);
  };
  const request = (i, adapter) => ({
    prompt: prompts[i % REQUESTS],
    maxTokens: NEW_TOKENS,
    ignoreEndOfText: true,
    ...(adapter ? { adapters: [adapter] } : {}),
  });
  /** A generation that stopped short measured fewer tokens than the figures divide by. */
  const generated = async (results, expected) => {
    for (const result of [results].flat())
      if (result.tokens.length !== expected)
        throw new Error(`${name}: a request generated ${result.tokens.length} tokens, ${expected} expected`);
  };
  const own = (i) => ({ id: `adapter-${i}`, load: () => adapters[i] });

  // Warm-up: first runs allocate arenas and page in the weights.
  await Promise.all([0, 1].map((i) => newScheduler(loraSession).generate({ ...request(i, own(i)), maxTokens: 2 })));
  await newScheduler(baseSession).generate({ ...request(0), maxTokens: 2 });

  const runs = { sequential: [], batched: [], base: [] };
  for (let round = 0; round < ROUNDS; round++) {
    step(
      `${name}, ${label}: round ${round + 1}/${ROUNDS}: ${REQUESTS} requests on ${REQUESTS} adapters one at a time, batched, and batched on the base model`,
    );
    runs.sequential.push(
      await timed(async () => {
        const scheduler = newScheduler(loraSession);
        for (let i = 0; i < REQUESTS; i++) await generated(await scheduler.generate(request(i, own(i))), NEW_TOKENS);
      }),
    );
    runs.batched.push(
      await timed(() => {
        const scheduler = newScheduler(loraSession);
        return Promise.all(Array.from({ length: REQUESTS }, (_, i) => scheduler.generate(request(i, own(i))))).then(
          (results) => generated(results, NEW_TOKENS),
        );
      }),
    );
    runs.base.push(
      await timed(() => {
        const scheduler = newScheduler(baseSession);
        return Promise.all(Array.from({ length: REQUESTS }, (_, i) => scheduler.generate(request(i)))).then((results) =>
          generated(results, NEW_TOKENS),
        );
      }),
    );
  }
  const emptyPools = loraPools.filter((pool) => pool.loads === 0).length;
  if (emptyPools)
    throw new Error(`${name}: ${emptyPools} adapter runs loaded no adapter: they measured the base model`);
  const seconds = Object.fromEntries(
    Object.entries(runs).map(([key, list]) => [key, median(list.map((run) => run.seconds))]),
  );
  const tokens = REQUESTS * NEW_TOKENS;

  // 1,000 registered adapters on disk (PEFT files; 50 distinct files behind 1,000 ids keep the
  // disk small while every id is its own cache and slot entry) drawn by Zipf, against 8.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-bench-adapters-'));
  const scale = { 8: [], 1000: [] };
  const coldLoads = [];
  try {
    const FILES = 50;
    for (let f = 0; f < FILES; f++) {
      const files = engine.writePeftAdapter(randomAdapter(engine, config, modules, 1000 + f), name);
      await writeFile(path.join(dir, `${f}.json`), JSON.stringify(files.config));
      await writeFile(path.join(dir, `${f}.safetensors`), files.weights);
    }
    const loadFromDisk = async (id) => {
      const file = Number(id.split('-')[1]) % FILES;
      const adapter = engine.readPeftAdapter({
        config: JSON.parse(await readFile(path.join(dir, `${file}.json`), 'utf8')),
        weights: await readFile(path.join(dir, `${file}.safetensors`)),
      });
      const problems = engine.adapterMismatches(adapter, config);
      if (problems.length) throw new Error(problems.join('; '));
      return adapter;
    };
    const adapterBytes = engine.adapterBytes(await loadFromDisk('registered-0'));
    const LOAD_REQUESTS = QUICK ? 32 : 128;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [registered, zipf] of [
        [8, false],
        [1000, true],
      ]) {
        const random = engine.seededRandom(7 + round);
        const draw = zipf ? zipfSampler(registered, 1.0, random) : () => Math.floor(random() * registered);
        const ids = Array.from({ length: LOAD_REQUESTS }, () => `registered-${draw()}`);
        // A host cache of 64 adapters: the 8-adapter run never misses after its first loads.
        const cache = new AdapterCache(64 * adapterBytes, loadFromDisk);
        step(
          `${name}, ${label}: round ${round + 1}/${ROUNDS}: ${LOAD_REQUESTS} requests over ${registered} registered adapters (${new Set(ids).size} distinct)`,
        );
        const pool = new SlotPool(config, { slots: REQUESTS + 1, rank: RANK, modules });
        const scheduler = new BatchScheduler(loraSession, pool, tokenizer, schedulerOptions);
        const run = await timed(() =>
          Promise.all(
            ids.map((id, i) =>
              scheduler.generate({
                ...request(i),
                maxTokens: NEW_TOKENS / 2,
                adapters: [{ id, load: () => cache.get(id) }],
              }),
            ),
          ),
        );
        scale[registered].push({
          seconds: run.seconds,
          tokensPerSecond: (LOAD_REQUESTS * NEW_TOKENS) / 2 / run.seconds,
          distinctAdapters: new Set(ids).size,
          slotLoads: pool.loads,
          cacheMisses: cache.misses,
        });
      }
    }

    // Cold load: adapter files → validated adapter → its slot (α/r folded, rank padded).
    const pool = new SlotPool(config, { slots: 2, rank: RANK, modules });
    for (let i = 0; i < (QUICK ? 20 : 200); i++) {
      const started = performance.now();
      const adapter = await loadFromDisk(`cold-${i}`);
      pool.release(pool.acquire(`cold-${i}`, () => adapter));
      coldLoads.push(performance.now() - started);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const scaleMedian = (key) => median(scale[key].map((run) => run.tokensPerSecond));

  return {
    modules,
    hetero_speedup: seconds.sequential / seconds.batched,
    lora_overhead_ratio: seconds.base / seconds.batched,
    scale_ratio: scaleMedian(1000) / scaleMedian(8),
    cold_load_ms_p50: percentile(coldLoads, 0.5),
    cold_load_ms_p99: percentile(coldLoads, 0.99),
    detail: {
      tokensPerSecond: {
        sequential: tokens / seconds.sequential,
        batched: tokens / seconds.batched,
        baseBatched: tokens / seconds.base,
      },
      rounds: Object.fromEntries(Object.entries(runs).map(([key, list]) => [key, list.map((run) => run.seconds)])),
      scale,
      adapterMiB: engine.adapterBytes(adapters[0]) / 2 ** 20,
    },
  };
}

/** GFLOP/s of one large plain MatMul graph in onnxruntime, same threads. */
function randomAdapter(engine, config, modules, seed) {
  const random = engine.seededRandom(seed);
  const factors = new Map();
  for (let layer = 0; layer < config.nLayers; layer++) {
    for (const module of modules) {
      const [dIn, dOut] = engine.projectionShape(config, module);
      factors.set(engine.projectionKey(config, layer, module), {
        a: Float32Array.from({ length: dIn * RANK }, () => (random() * 2 - 1) * 0.05),
        b: Float32Array.from({ length: RANK * dOut }, () => (random() * 2 - 1) * 0.05),
      });
    }
  }
  return { rank: RANK, alpha: RANK, targetModules: [...modules], factors };
}

function printTable(results) {
  const goals = {
    hetero_speedup: '≥ 6',
    lora_overhead_ratio: '≥ 0.85',
    scale_ratio: '≥ 0.8',
    cold_load_ms_p50: '',
    cold_load_ms_p99: '',
    prefill_gflops_ratio: '≥ 0.5',
  };
  const names = Object.keys(results.models);
  console.log(
    `\n${'figure'.padEnd(22)}${names.map((n) => n.padStart(16)).join('')}${names.map((n) => `${n} (every proj.)`.padStart(30)).join('')}   goal`,
  );
  for (const [figure, goal] of Object.entries(goals)) {
    const value = (x) => (x === undefined ? '' : x.toFixed(2));
    console.log(
      `${figure.padEnd(22)}${names.map((n) => value(results.models[n][figure]).padStart(16)).join('')}${names.map((n) => value(results.models[n].every_projection[figure]).padStart(30)).join('')}   ${goal}`,
    );
  }
  console.log(
    `adapters: rank ${RANK}; PEFT's default targets (${Object.entries(PEFT_DEFAULT_TARGETS)
      .map(([a, m]) => `${a}: ${m.join(', ')}`)
      .join('; ')}), and every projection`,
  );
  console.log(`\n${results.cuda}`);
}
