// One phase of one real-shape run, in a process of its own so that its RSS is that phase's
// alone (a worker serving the model), not what earlier models left in the allocator:
//   write — the weight file, streamed a tensor at a time from random weights;
//   base  — the base model's session: load, TTFT and decode at batch 1;
//   lora  — the adapter session: load, decode at batch 32 on 32 distinct adapters, all resident.
// The parent (real-shapes.mjs) sends one task and gets one message back.
import { answerParent, median, processMemory, promptOf } from './engine-common.mjs';
import { randomAdapter, randomWeightReader } from './random-weight-reader.mjs';

/** Every request of a run decodes together: all prompts fit one prefill step. */
const scheduling = (plan) => ({ maxBatch: plan.batch, prefillChunk: 256, maxBatchTokens: 4096 });

answerParent(runPhase);

async function runPhase(task) {
  const engine = await import('@tessera/engine');
  if (task.phase === 'write') return writePhase(engine, task);
  const file = await engine.WeightFile.open(task.dir);
  if (!file) throw new Error(`no weight file in ${task.dir}`);
  if (task.phase === 'base') return basePhase(engine, task, file);
  if (task.phase === 'lora') return loraPhase(engine, task, file);
  throw new Error(`unknown phase ${task.phase}`);
}

async function writePhase(engine, { config, dir, precision }) {
  const started = performance.now();
  const file = await engine.writeWeightFile(dir, config, randomWeightReader(engine, config, 1), precision);
  return { seconds: (performance.now() - started) / 1000, bytes: file.bytes, peakRssBytes: processMemory().peakRss };
}

/** Load, then one ~64-token prompt per round: its first token's latency, then decode at batch 1. */
async function basePhase(engine, { config, sessions, plan }, file) {
  const loadStarted = performance.now();
  const session = await engine.DecoderSession.load(config, file, sessions);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const afterLoad = processMemory();
  const scheduler = new engine.BatchScheduler(session, null, new engine.ByteTokenizer(), scheduling(plan));
  // Warm-up: the first passes allocate ORT's arenas and page in the weights.
  await scheduler.generate({ prompt: [1, 2, 3, 4], maxTokens: 2, ignoreEndOfText: true });
  const prompt = promptOf(`Tell me about the weather in the mountains this week, and what I should pack: `, 64);
  const rounds = [];
  for (let round = 0; round < plan.b1Rounds; round++) {
    const [row] = await generateTimed(scheduler, [{ prompt, maxTokens: plan.b1Tokens, ignoreEndOfText: true }], {
      tokens: plan.b1Tokens,
    });
    const decodeSeconds = (row.times.at(-1) - row.times[0]) / 1000;
    rounds.push({
      ttftMs: row.times[0] - row.started,
      decodeTokensPerSecond: (plan.b1Tokens - 1) / decodeSeconds,
    });
  }
  const afterServing = processMemory();
  const afterGc = memoryAfterGc();
  await session.release();
  return {
    loadSeconds,
    ...memoryFigures(afterLoad, afterServing, afterGc),
    promptTokens: prompt.length,
    newTokens: plan.b1Tokens,
    ttftMs: median(rounds.map((r) => r.ttftMs)),
    decodeTokensPerSecond: median(rounds.map((r) => r.decodeTokensPerSecond)),
    rounds,
  };
}

/**
 * `batch` requests on as many distinct adapters, all decoding together: they are prefilled in one step
 * (so their first tokens come in one step) and every later step runs all rows. Decode
 * speed is timed from every row's second token to the last, so neither the prefill nor the
 * first decode step's allocations are in it.
 */
async function loraPhase(engine, { config, sessions, plan, modules }, file) {
  const { rank, batch } = plan;
  const loadStarted = performance.now();
  const session = await engine.DecoderSession.load(config, file, { ...sessions, lora: { modules, rank } });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const afterLoad = processMemory();
  // The host cache a worker keeps between storage and slots, large enough that all stay resident.
  const cache = new engine.AdapterCache(Infinity, async (id) =>
    randomAdapter(engine, config, modules, rank, 100 + Number(id.split('-')[1])),
  );
  // As in the worker, a slot is an adapter's one copy: the host cache lets go once it is loaded.
  const pool = new engine.SlotPool(config, { slots: batch + 1, rank, modules, onLoaded: (id) => cache.evict(id) });
  const scheduler = new engine.BatchScheduler(session, pool, new engine.ByteTokenizer(), scheduling(plan));
  await scheduler.generate({ prompt: [1, 2, 3, 4], maxTokens: 2, ignoreEndOfText: true });
  if (pool.loads !== 0) throw new Error('the base-model warm-up loaded an adapter');
  for (let i = 0; i < batch; i++) await cache.get(`adapter-${i}`);
  const adapterBytes = cache.bytes;
  const requests = Array.from({ length: batch }, (_, i) => ({
    prompt: promptOf(`Request ${i}: write a short note to adapter ${i} `, plan.b32PromptTokens),
    maxTokens: plan.b32Tokens,
    ignoreEndOfText: true,
    adapters: [{ id: `adapter-${i}`, load: () => cache.get(`adapter-${i}`) }],
  }));
  const rows = await generateTimed(scheduler, requests, { tokens: plan.b32Tokens });
  // Slots filled by this run: one per adapter, or the run measured fewer (or no) adapters.
  if (pool.loads !== batch || cache.misses !== batch)
    throw new Error(`${batch} requests on ${batch} adapters loaded ${pool.loads} slots from ${cache.misses} adapters`);
  const steps = stepTimes(rows);
  const decodeSeconds = (steps.at(-1) - steps[1]) / 1000;
  const afterServing = processMemory();
  const afterGc = memoryAfterGc();
  return {
    modules,
    rank,
    batch,
    loadSeconds,
    ...memoryFigures(afterLoad, afterServing, afterGc),
    promptTokens: plan.b32PromptTokens,
    newTokens: plan.b32Tokens,
    prefillSeconds: (steps[0] - Math.min(...rows.map((row) => row.started))) / 1000,
    decodeTokensPerSecond: (batch * (plan.b32Tokens - 2)) / decodeSeconds,
    slotLoads: pool.loads,
    adapterMiB: adapterBytes / batch / 2 ** 20,
    // What the host cache still holds once every adapter is in a slot: 0 unless a request kept one.
    hostCacheMiB: cache.bytes / 2 ** 20,
  };
}

/** Runs requests together, timing each row's tokens; fails if any row generated other than `tokens`. */
async function generateTimed(scheduler, requests, { tokens }) {
  const rows = requests.map(() => ({ started: 0, times: [] }));
  const results = await Promise.all(
    requests.map((request, i) => {
      rows[i].started = performance.now();
      return scheduler.generate({ ...request, onToken: () => rows[i].times.push(performance.now()) });
    }),
  );
  results.forEach((result, i) => {
    if (result.tokens.length !== tokens || rows[i].times.length !== tokens)
      throw new Error(`a request generated ${result.tokens.length} tokens, ${tokens} expected`);
  });
  return rows;
}

/**
 * When each decode step ended, checked to be one step for every row: the rows' j-th tokens
 * came within a fraction of a step of each other. Rows that drifted apart would have
 * decoded in smaller batches than the figure claims.
 */
function stepTimes(rows) {
  const steps = rows[0].times.map((_, j) => Math.max(...rows.map((row) => row.times[j])));
  const stepMs = median(steps.slice(1).map((t, j) => t - steps[j]));
  rows[0].times.forEach((_, j) => {
    const spread = steps[j] - Math.min(...rows.map((row) => row.times[j]));
    if (spread > stepMs / 4)
      throw new Error(`token ${j} of the ${rows.length} rows spread over ${spread.toFixed(1)} ms: not one batch`);
  });
  return steps;
}

/** The same once V8 has collected garbage (the parent starts this process with --expose-gc): what stays resident. */
function memoryAfterGc() {
  globalThis.gc();
  return processMemory();
}

/** A phase's RSS after loading, after serving and after a full GC, and its peak. */
function memoryFigures(afterLoad, afterServing, afterGc) {
  return {
    rssAfterLoadBytes: afterLoad.rss,
    rssAfterServingBytes: afterServing.rss,
    rssAfterGcBytes: afterGc.rss,
    peakRssBytes: afterServing.peakRss,
    memoryAfterServing: afterServing,
  };
}
