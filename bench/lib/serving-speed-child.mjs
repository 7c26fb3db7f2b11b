// One engine's side of the serving-speed comparison (serving-speed.mjs), in a process of its
// own so that its RSS and JIT state are its own. The engine comes from `task.engine`: the
// current checkout's `@tessera/engine`, or the file URL of the baseline built from git. Only
// APIs both engines have are used, except the prefix cache (newer engines only).
//   write — the weight file both engines load, streamed a tensor at a time from random weights;
//   open  — whether this engine reads a weight file (the baseline reading the newer engine's);
//   serve — load the adapter session once, then each workload in `task.workloads`.
import { answerParent, median, processMemory, promptOf } from './engine-common.mjs';
import { randomAdapter, randomWeightReader } from './random-weight-reader.mjs';
import { stepGaps, stepRecorder } from './step-recorder.mjs';

/**
 * The KV cache of every scheduler here (newer engines; the baseline ignores the option):
 * blocks of 16 and room for the largest workload, 16 prompts of 256 tokens, twice over.
 * Only pages a block has used take memory.
 */
const KV_CACHE = { blockSize: 16, budgetTokens: 8192 };

/** The scope every prefix-cache request shares: one tenant's requests. */
const CACHE_SCOPE = 'tenant-bench';

answerParent(runPhase);

async function runPhase(task) {
  const engine = await import(task.engine);
  if (task.phase === 'write') {
    const started = performance.now();
    const file = await engine.writeWeightFile(
      task.dir,
      task.config,
      randomWeightReader(engine, task.config, 1),
      task.precision,
    );
    return { seconds: (performance.now() - started) / 1000, bytes: file.bytes };
  }
  const file = await engine.WeightFile.open(task.dir);
  if (!file) throw new Error(`no weight file this engine reads in ${task.dir}`);
  if (task.phase === 'open') return { bytes: file.bytes, precision: file.precision };
  if (task.phase === 'serve') return serve(engine, task, file);
  throw new Error(`unknown phase ${task.phase}`);
}

const WORKLOADS = { batched, sequential, prefill, prefix };

/**
 * The adapter session and one slot pool holding all `plan.batch` adapters (loaded before
 * any timing: every workload runs on resident adapters), then each workload on a scheduler
 * of its own. After all of them the pool must still hold every adapter and have loaded
 * none again: each run served the adapters it names, not an evicted or empty slot.
 */
async function serve(engine, { config, sessions, plan, modules, workloads }, file) {
  const loadStarted = performance.now();
  const session = await engine.DecoderSession.load(config, file, { ...sessions, lora: { modules, rank: plan.rank } });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const adapters = Array.from({ length: plan.batch }, (_, i) =>
    randomAdapter(engine, config, modules, plan.rank, 100 + i),
  );
  const pool = new engine.SlotPool(config, { slots: plan.batch + 1, rank: plan.rank, modules });
  adapters.forEach((adapter, i) => pool.release(pool.acquire(adapterId(i), () => adapter)));
  const serving = {
    engine,
    plan,
    pool,
    adapters,
    scheduler: (options = {}) =>
      new engine.BatchScheduler(session, pool, new engine.ByteTokenizer(), {
        maxBatch: plan.batch,
        prefillChunk: 256,
        maxBatchTokens: 4096,
        kvCache: KV_CACHE,
        ...options,
      }),
    request: (i, prompt, maxTokens) => ({
      prompt,
      maxTokens,
      ignoreEndOfText: true,
      adapters: [{ id: adapterId(i), load: () => adapters[i], weight: 1 }],
    }),
  };
  // Warm-up: the first passes allocate ORT's arenas and page in the weights.
  await Promise.all([0, 1].map((i) => serving.scheduler().generate(serving.request(i, promptOf('warm-up ', 8), 2))));
  const results = { loadSeconds };
  for (const name of workloads) {
    const started = performance.now();
    results[name] = await WORKLOADS[name](serving);
    results[name].wallSeconds = (performance.now() - started) / 1000;
  }
  const resident = new Set(pool.residents());
  const missing = adapters.filter((_, i) => !resident.has(adapterId(i))).length;
  if (pool.loads !== plan.batch || missing)
    throw new Error(
      `the slot pool loaded ${pool.loads} adapters for ${plan.batch} (${missing} not resident): the runs did not serve the adapters they name`,
    );
  results.slotLoads = pool.loads;
  results.memory = processMemory();
  await session.release();
  return results;
}

/** `plan.batch` requests on as many adapters, arriving together: decode step time at batch 32 and tokens/s. */
async function batched({ plan, scheduler, request }) {
  const run = scheduler();
  const recorder = stepRecorder(run);
  const started = performance.now();
  await generateAll(
    run,
    Array.from({ length: plan.batch }, (_, i) => request(i, requestPrompt(i, plan.promptTokens), plan.newTokens)),
    recorder,
    plan.newTokens,
  );
  const steps = recorder.checkedSteps(plan.batch, plan.newTokens);
  return {
    requests: plan.batch,
    tokens: plan.batch * plan.newTokens,
    stepSeconds: median(stepGaps(steps)),
    tokensPerSecond: (plan.batch * plan.newTokens) / ((steps.at(-1).at - started) / 1000),
    firstTokenSeconds: (steps[0].at - started) / 1000,
    rowsPerStep: steps.map((s) => s.rows.length),
    kvPeak: recorder.kvPeak,
  };
}

/** The same requests one at a time, each alone: decode step time at batch 1 and tokens/s. */
async function sequential({ plan, scheduler, request }) {
  const run = scheduler();
  const gaps = [];
  const started = performance.now();
  for (let i = 0; i < plan.sequentialRequests; i++) {
    const recorder = stepRecorder(run);
    await generateAll(run, [request(i, requestPrompt(i, plan.promptTokens), plan.newTokens)], recorder, plan.newTokens);
    gaps.push(...stepGaps(recorder.checkedSteps(1, plan.newTokens)));
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    requests: plan.sequentialRequests,
    tokens: plan.sequentialRequests * plan.newTokens,
    stepSeconds: median(gaps),
    tokensPerSecond: (plan.sequentialRequests * plan.newTokens) / seconds,
  };
}

/** `plan.prefillRequests` long prompts arriving together, one token each: the time until every first token. */
async function prefill({ plan, scheduler, request }) {
  const run = scheduler();
  const recorder = stepRecorder(run);
  const started = performance.now();
  const requests = Array.from({ length: plan.prefillRequests }, (_, i) =>
    request(i, requestPrompt(i, plan.prefillPromptTokens), 1),
  );
  await generateAll(run, requests, recorder, 1);
  return {
    requests: plan.prefillRequests,
    promptTokens: plan.prefillPromptTokens,
    seconds: (recorder.steps.at(-1).at - started) / 1000,
    // How many steps the first tokens came in: 1 when every prompt fit one prefill step.
    steps: recorder.steps.length,
  };
}

/**
 * Requests sharing a system prompt (distinct suffixes, one adapter, one cacheScope), one at a
 * time, on a scheduler with the prefix cache and one without, alternated request by request
 * so that both see the same load. Each scheduler first serves one request that fills its cache.
 * Needs the prefix-cache API: null and why on an engine without `scheduler.stats()`.
 */
async function prefix({ plan, scheduler, request }) {
  const cached = scheduler({ prefixCache: true });
  const uncached = scheduler({ prefixCache: false });
  if (typeof cached.stats !== 'function')
    return {
      skipped: 'this engine has no scheduler.stats() (no prefix cache): prefix_cache_ttft_speedup not measured',
    };
  const system = promptOf(
    'System: you are the support assistant of a mountain outfitter; answer briefly, cite the catalogue. ',
    plan.systemPromptTokens,
  );
  const ask = (i) => ({
    ...request(
      0,
      [...system, ...promptOf(`Question ${i}: which boots for a wet trail in late autumn? `, plan.suffixTokens)],
      1,
    ),
    cacheScope: CACHE_SCOPE,
  });
  for (const run of [cached, uncached]) await generateAll(run, [ask(0)], stepRecorder(run), 1);
  const before = cached.stats().prefixCache;
  const ttft = { cached: [], uncached: [] };
  for (let i = 1; i <= plan.prefixRequests; i++)
    for (const [key, run] of [
      ['uncached', uncached],
      ['cached', cached],
    ]) {
      const recorder = stepRecorder(run);
      const started = performance.now();
      await generateAll(run, [ask(i)], recorder, 1);
      ttft[key].push((recorder.steps[0].at - started) / 1000);
    }
  const after = cached.stats().prefixCache;
  const promptTokens = after.promptTokens - before.promptTokens;
  const hitTokens = after.hitTokens - before.hitTokens;
  if (hitTokens === 0)
    throw new Error(
      `prefix cache on: ${plan.prefixRequests} prompts sharing a ${plan.systemPromptTokens}-token prefix hit no cached token`,
    );
  if (uncached.stats().prefixCache.hitTokens !== 0) throw new Error('prefix cache off: yet it reports cache hits');
  return {
    requests: plan.prefixRequests,
    systemPromptTokens: plan.systemPromptTokens,
    suffixTokens: plan.suffixTokens,
    ttftSeconds: { cached: median(ttft.cached), uncached: median(ttft.uncached) },
    ttftRuns: ttft,
    promptTokens,
    hitTokens,
    hitRate: hitTokens / promptTokens,
    kv: cached.stats().kv,
  };
}

const adapterId = (i) => `adapter-${i}`;

/** A distinct prompt per request, so no two share more than a few tokens. */
const requestPrompt = (i, length) => promptOf(`Request ${i}: write a short note to adapter ${i} `, length);

/** Runs requests together, every token recorded; fails if any request generated other than `tokens`. */
async function generateAll(scheduler, requests, recorder, tokens) {
  const results = await Promise.all(
    requests.map((request, row) => scheduler.generate({ ...request, onToken: recorder.onToken(row) })),
  );
  results.forEach((result, row) => {
    const emitted = recorder.tokensOf(row);
    if (result.tokens.length !== tokens || emitted !== tokens)
      throw new Error(`a request generated ${result.tokens.length} tokens (${emitted} streamed), ${tokens} expected`);
  });
}
