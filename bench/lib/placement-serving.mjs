// What serving per-layer placements costs (issue 23): a batch of adapters that adapt only a few
// projections (each its own placement, as tenants' auto placements differ), served by a session that skips the LoRA products of projections no adapter of the
// step adapts (lora.skipUntouched, as the worker serves) against one that computes every
// projection's products over zero slots; and the same for adapters on every projection, where
// the skip has nothing to skip and shows its own overhead. Runs alternate over rounds, which of
// the two goes first too (medians). Each run is the requests' prefill and decode.
import { step } from '../../infra/scripts/lib/run.mjs';
import { median, timed } from './engine-common.mjs';

const THREADS = 2;
const RANK = 16;

/**
 * Tokens/s of `requests` concurrent requests (prefill and decode), each on its own adapter, for
 * adapters placed on `placements` (a list of placements, each a few projection keys, given to the
 * adapters in turn) and on every projection, with and without the skip.
 */
export async function servingSkipFigures(engine, model, placements, { quick }) {
  const { BatchScheduler, ByteTokenizer, DecoderSession, SlotPool } = engine;
  const { config, weights } = model;
  const modules = engine.targetModules(config);
  const every = engine.projectionKeys(config).map((p) => p.key);
  const requests = quick ? 4 : 16;
  const newTokens = quick ? 8 : 32;
  // A demo-model run lasts a fraction of a second: five rounds, so one slow run moves the median less.
  const rounds = quick ? 1 : 5;
  const sessions = {};
  for (const skip of [true, false]) {
    sessions[skip ? 'skip' : 'compute_all'] = await DecoderSession.load(config, weights, {
      threads: THREADS,
      lora: { modules, rank: RANK, skipUntouched: skip },
    });
  }
  const tokenizer = new ByteTokenizer();
  const prompts = Array.from({ length: requests }, (_, i) => tokenizer.encode(`Recipe ${i}: whisk the eggs and `));
  const adapterSets = {
    placed: Array.from({ length: requests }, (_, i) =>
      randomAdapter(engine, config, placements[i % placements.length], 500 + i),
    ),
    every_projection: Array.from({ length: requests }, (_, i) => randomAdapter(engine, config, every, 500 + i)),
  };

  /** One batched run; returns its seconds and every request's tokens (each must have generated all). */
  const run = async (session, adapters) => {
    const pool = new SlotPool(config, { slots: requests + 1, rank: RANK, modules });
    const scheduler = new BatchScheduler(session, pool, tokenizer, {
      maxBatch: requests,
      prefillChunk: 256,
      maxBatchTokens: 4096,
    });
    let results;
    const { seconds } = await timed(async () => {
      results = await Promise.all(
        adapters.map((adapter, i) =>
          scheduler.generate({
            prompt: prompts[i],
            maxTokens: newTokens,
            ignoreEndOfText: true,
            adapters: [{ id: `adapter-${i}`, load: () => adapter }],
          }),
        ),
      );
    });
    if (pool.loads !== adapters.length) throw new Error(`${pool.loads} adapters loaded, ${adapters.length} expected`);
    for (const result of results)
      if (result.tokens.length !== newTokens) throw new Error(`a request generated ${result.tokens.length} tokens`);
    return { seconds, tokens: results.map((r) => r.tokens) };
  };

  // Warm-up: first runs allocate arenas and page in the weights.
  for (const session of Object.values(sessions)) await run(session, adapterSets.placed.slice(0, 2));

  const seconds = { placed: { skip: [], compute_all: [] }, every_projection: { skip: [], compute_all: [] } };
  for (let round = 0; round < rounds; round++) {
    for (const [set, adapters] of Object.entries(adapterSets)) {
      step(
        `serving ${requests} adapters on ${set === 'placed' ? `${placements.length} placements` : 'every projection'}: round ${round + 1}/${rounds}`,
      );
      const skipFirst = round % 2 === 0;
      const first = await run(skipFirst ? sessions.skip : sessions.compute_all, adapters);
      const second = await run(skipFirst ? sessions.compute_all : sessions.skip, adapters);
      const [skipped, computed] = skipFirst ? [first, second] : [second, first];
      // Skipping zero products must not change what is generated (greedy decoding).
      if (JSON.stringify(skipped.tokens) !== JSON.stringify(computed.tokens))
        throw new Error(`${set}: the skipping session generated other tokens than the computing one`);
      seconds[set].skip.push(skipped.seconds);
      seconds[set].compute_all.push(computed.seconds);
    }
  }
  for (const session of Object.values(sessions)) await session.release();

  const tokens = requests * newTokens;
  const rate = (list) => round1(tokens / median(list));
  const figures = Object.fromEntries(
    Object.entries(seconds).map(([set, runs]) => [
      set,
      {
        tokens_per_second: { skip: rate(runs.skip), compute_all: rate(runs.compute_all) },
        ratio_skip_over_compute_all: round4(median(runs.compute_all) / median(runs.skip)),
      },
    ]),
  );
  return {
    what: `${requests} concurrent requests on ${requests} adapters (prefill and ${newTokens} generated tokens each; rank ${RANK} pool over every projection): a session that skips projections no adapter of the step adapts vs one computing them all; 'placed' adapters each hold one of 'placements' in turn, 'every_projection' ones every projection (the skip's own overhead); ratio = skip throughput ÷ compute-all throughput`,
    placements,
    touched: new Set(placements.flat()).size,
    projections: every.length,
    requests,
    new_tokens: newTokens,
    rounds,
    ...figures,
  };
}

function randomAdapter(engine, config, keys, seed) {
  const random = engine.seededRandom(seed);
  const factors = new Map();
  for (const { key, module } of engine.projectionKeys(config)) {
    if (!keys.includes(key)) continue;
    const [dIn, dOut] = engine.projectionShape(config, module);
    factors.set(key, {
      a: Float32Array.from({ length: dIn * RANK }, () => (random() * 2 - 1) * 0.05),
      b: Float32Array.from({ length: RANK * dOut }, () => (random() * 2 - 1) * 0.05),
    });
  }
  const targetModules = [
    ...new Set(
      engine
        .projectionKeys(config)
        .filter((p) => keys.includes(p.key))
        .map((p) => p.module),
    ),
  ];
  return { rank: RANK, alpha: RANK, targetModules, factors };
}

const round1 = (x) => Math.round(x * 10) / 10;
const round4 = (x) => Math.round(x * 1e4) / 1e4;
