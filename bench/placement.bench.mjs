// Adapter placement chosen by gradient probing (issue 23), on the demo model, three tasks that
// want different things of it, three seeds each. Per task and seed, held-out loss after the same
// training for: PEFT's default placement (c_attn in every layer), every projection at the same
// rank, `auto` (the probe's top placements within the default's parameter count) and random
// placements within that count. Then each projection trained alone (seed 1), against the
// probe's gradient-rank score of it: the Spearman correlation. Writes bench/results/placement.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, ensureInstalled, ROOT, step } from '../infra/scripts/lib/run.mjs';
import { demoModel, LLAMA_D512_L8, machine, randomWeights } from './lib/engine-common.mjs';
import { longRangeFigures } from './lib/long-range-experiment.mjs';
import { servingSkipFigures } from './lib/placement-serving.mjs';
import { spearman } from './lib/spearman.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const SEEDS = QUICK ? [1] : [1, 2, 3];
const THREADS = 2;
const HYPERPARAMETERS = {
  rank: 8,
  alpha: 16,
  learningRate: 3e-3,
  batchSize: 4,
  maxSequenceLength: 96,
  warmupSteps: 4,
  maxSteps: QUICK ? 8 : 40,
  validationFraction: 0,
};
// The probe as the worker runs it: its default micro-batches (one per 20 of the run's, 1 … 4), and
// one prober for the base model whose graph and session serve every probe after the first.
const PROBE = { sketchRank: 32 };
/** A longer fine-tune, once, for what the probe costs as the run grows. */
const LONG_STEPS = QUICK ? 16 : 200;

/** Three tasks: two of the demo's topics (style of a domain) and a token-level copy task (attention across the line). */
function tasks(engine) {
  const random = engine.seededRandom(11);
  const word = () =>
    Array.from(
      { length: 3 + Math.floor(random() * 5) },
      () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(random() * 26)],
    ).join('');
  const copyLine = () => {
    const words = Array.from({ length: 3 }, word).join(' ');
    return `copy: ${words} => ${words}.`;
  };
  const records = (texts) => texts.map((text) => ({ text }));
  return {
    recipes: {
      train: records(engine.domainTexts('recipes', 64, 1)),
      heldOut: records(engine.domainTexts('recipes', 24, 901)),
    },
    code: { train: records(engine.domainTexts('code', 64, 1)), heldOut: records(engine.domainTexts('code', 24, 901)) },
    copy: {
      train: records(Array.from({ length: 64 }, copyLine)),
      heldOut: records(Array.from({ length: 24 }, copyLine)),
    },
  };
}

export default async function placementBench() {
  ensureInstalled();
  build();
  const engine = await import('@tessera/engine');
  const model = await demoModel(engine);
  const { config } = model;
  const candidates = engine.projectionKeys(config);
  const costOf = (keys) =>
    keys.reduce((sum, key) => {
      const { module } = candidates.find((c) => c.key === key);
      const [dIn, dOut] = engine.projectionShape(config, module);
      return sum + HYPERPARAMETERS.rank * (dIn + dOut);
    }, 0);
  // The same default and budget the worker gives target_modules "auto".
  const defaultModules = engine.peftDefaultModules(config);
  const defaultPlacement = candidates.filter((c) => defaultModules.includes(c.module)).map((c) => c.key);
  const everyPlacement = candidates.map((c) => c.key);
  const budget = engine.defaultPlacementBudget(config, HYPERPARAMETERS.rank);
  if (budget !== costOf(defaultPlacement)) throw new Error('the default placement does not cost the default budget');

  // Seconds are wall time of the whole engine call, graph and session set-up included, as for the probe.
  const trainAndScore = async (task, placements, seed, steps = HYPERPARAMETERS.maxSteps) => {
    const started = performance.now();
    const result = await engine.train({
      model,
      data: task.train,
      hyperparameters: { ...HYPERPARAMETERS, maxSteps: steps, seed, placements },
      threads: THREADS,
    });
    const seconds = (performance.now() - started) / 1000;
    if (result.metrics.steps !== steps) throw new Error(`trained ${result.metrics.steps} steps, not ${steps}`);
    const trained = [...result.adapter.factors.keys()].sort();
    if (trained.join() !== [...placements].sort().join())
      throw new Error(`trained ${trained.join(', ')} instead of ${placements.join(', ')}`);
    const held = await engine.evaluateAdapter(model, result.adapter, task.heldOut, { threads: THREADS });
    if (!(held.tokens > 0)) throw new Error('the held-out set scored no tokens');
    return { loss: round4(held.loss), seconds };
  };

  const proberStarted = performance.now();
  const prober = new engine.PlacementProber(model, { threads: THREADS, ...PROBE });
  // Building the probe's graph is the first probe's cost (its session starts inside that probe).
  let proberSetUpSeconds = (performance.now() - proberStarted) / 1000;
  const probe = async (task, hyperparameters) => {
    const result = await prober.probe({
      data: task.train,
      hyperparameters: { ...HYPERPARAMETERS, ...hyperparameters },
    });
    if (!(result.tokens > 0) || result.scores.length !== candidates.length)
      throw new Error(`the probe scored ${result.scores.length} placements over ${result.tokens} tokens`);
    const seconds = result.seconds + proberSetUpSeconds;
    proberSetUpSeconds = 0;
    return { ...result, seconds };
  };

  const report = { tasks: {} };
  /** Each auto run: its probe's seconds (and its passes') and its fine-tune's, in the order run. */
  const autoRuns = [];
  const probeBatches = new Set();
  const taskSets = tasks(engine);
  for (const [name, task] of Object.entries(taskSets)) {
    step(`task ${name}`);
    const base = await engine.evaluateAdapter(model, null, task.heldOut, { threads: THREADS });
    const strategies = { peft_default: [], every_projection: [], auto: [], random: [] };
    const placements = { auto: [], random: [] };
    let firstSeedProbe = null;
    for (const seed of SEEDS) {
      const seedProbe = await probe(task, { seed });
      firstSeedProbe ??= seedProbe;
      probeBatches.add(seedProbe.batches);
      const auto = engine.selectPlacements(seedProbe.scores, { rank: HYPERPARAMETERS.rank, budgetParameters: budget });
      const random = randomPlacement(engine.seededRandom(seed * 131), everyPlacement, costOf, budget);
      placements.auto.push(auto);
      placements.random.push(random);
      for (const [strategy, keys] of Object.entries({
        peft_default: defaultPlacement,
        every_projection: everyPlacement,
        auto,
        random,
      })) {
        const scored = await trainAndScore(task, keys, seed);
        strategies[strategy].push(scored.loss);
        if (strategy === 'auto') {
          autoRuns.push({ probe: seedProbe.seconds, passes: seedProbe.passSeconds, fineTune: scored.seconds });
        }
        console.log(
          `  ${name} seed ${seed} ${strategy.padEnd(16)} held-out loss ${scored.loss} (${keys.length} placements)`,
        );
      }
    }
    // Each projection alone (seed 1) against its score in the seed-1 probe.
    const alone = [];
    for (const score of QUICK ? firstSeedProbe.scores.slice(0, 4) : firstSeedProbe.scores) {
      const { loss } = await trainAndScore(task, [score.key], SEEDS[0]);
      alone.push({
        key: score.key,
        gradient_rank: round4(score.gradientRank),
        gradient_norm: round4(score.gradientNorm),
        loss,
      });
    }
    const mean = (values) => round4(values.reduce((a, b) => a + b, 0) / values.length);
    report.tasks[name] = {
      base_model_loss: round4(base.loss),
      losses: strategies,
      mean_loss: Object.fromEntries(Object.entries(strategies).map(([k, v]) => [k, mean(v)])),
      parameters: {
        peft_default: costOf(defaultPlacement),
        every_projection: costOf(everyPlacement),
        auto: placements.auto.map(costOf),
        random: placements.random.map(costOf),
      },
      placements: { peft_default: defaultPlacement, auto: placements.auto, random: placements.random },
      alone,
      spearman_gradient_rank_vs_loss: round4(
        spearman(
          alone.map((a) => a.gradient_rank),
          alone.map((a) => a.loss),
        ),
      ),
    };
  }

  // The probe's cost is nearly fixed while a fine-tune's grows with its steps: one longer run.
  step(`the probe before a ${LONG_STEPS}-step fine-tune (recipes, seed ${SEEDS[0]})`);
  const longTask = taskSets.recipes;
  const longProbe = await probe(longTask, { maxSteps: LONG_STEPS, seed: SEEDS[0] });
  await prober.close();
  const longAuto = engine.selectPlacements(longProbe.scores, { rank: HYPERPARAMETERS.rank, budgetParameters: budget });
  const longRun = await trainAndScore(longTask, longAuto, SEEDS[0], LONG_STEPS);

  // Serving adapters that hold only their placements, mixed in one batch: on the demo model the
  // auto placements of every task and seed above, in turn; on a larger Llama shape (random
  // weights) PEFT's default, q_proj and v_proj of every layer, the placement most adapters have.
  const llama = { config: LLAMA_D512_L8, weights: randomWeights(engine, LLAMA_D512_L8, 5) };
  const servingSkip = {
    demo: await servingSkipFigures(
      engine,
      model,
      Object.values(report.tasks).flatMap((t) => t.placements.auto),
      { quick: QUICK },
    ),
    llama_d512_l8: await servingSkipFigures(
      engine,
      llama,
      [
        engine
          .projectionKeys(LLAMA_D512_L8)
          .filter((p) => engine.peftDefaultModules(LLAMA_D512_L8).includes(p.module))
          .map((p) => p.key),
      ],
      { quick: QUICK },
    ),
  };

  // The extended space: long-range adapters at the auto placement's parameter count (an engine experiment).
  const longRange = await longRangeFigures(engine, model, taskSets, {
    hyperparameters: HYPERPARAMETERS,
    seeds: SEEDS,
    autoPlacements: Object.fromEntries(Object.entries(report.tasks).map(([name, t]) => [name, t.placements.auto])),
    peftDefault: defaultPlacement,
    everyProjection: everyPlacement,
    costOf,
  });

  const autoWins = Object.entries(report.tasks)
    .filter(([, t]) => t.parameters.auto.every((p) => p <= t.parameters.every_projection / 4))
    .filter(([, t]) => t.mean_loss.auto <= t.mean_loss.every_projection)
    .map(([name]) => name);
  // The worker's first probe of a base model builds and starts the prober; every later one reuses it.
  const cost = (runs) => {
    const sum = (key) => runs.reduce((total, run) => total + run[key], 0);
    return {
      runs: runs.length,
      probe_seconds: round4(sum('probe')),
      // The forward/backward passes alone; the rest prepares the data and scores the gradients.
      probe_pass_seconds: round4(sum('passes')),
      fine_tune_seconds: round4(sum('fineTune')),
      ratio: round4(sum('probe') / sum('fineTune')),
    };
  };
  const later = cost(autoRuns.slice(1));
  const results = {
    benchmark: 'placement',
    what: 'held-out loss of LoRA placements on the demo model (rank 8, same steps): PEFT default, every projection, auto (gradient-rank probe) and random at the default parameter count; 3 tasks × seeds; each projection alone vs its probe score',
    measured_at: new Date().toISOString(),
    machine: machine(engine, 'cpu'),
    settings: { ...HYPERPARAMETERS, seeds: SEEDS, probe: PROBE, budget_parameters: budget, quick: QUICK },
    tasks: report.tasks,
    auto_wins: autoWins,
    // Per task, then averaged: pooling tasks would rank their different loss levels, not placements.
    spearman_gradient_rank_vs_loss: round4(
      Object.values(report.tasks).reduce((sum, t) => sum + t.spearman_gradient_rank_vs_loss, 0) /
        Object.keys(report.tasks).length,
    ),
    probe_cost_ratio: later.ratio,
    probe_cost: {
      what: "probe wall time ÷ the auto fine-tune's wall time. Every fine-tune builds its graphs and starts its sessions; the probes share one prober for the base model, as the worker keeps one per model (its session released after 10 idle minutes), so only a worker's first probe of a model builds its graph and starts its session (first_probe). probe_cost_ratio is every later probe's (later_probes); all_runs counts the first as well",
      steps: HYPERPARAMETERS.maxSteps,
      probe_batches: [...probeBatches],
      later_probes: later,
      first_probe: cost(autoRuns.slice(0, 1)),
      all_runs: cost(autoRuns),
      long_run: {
        steps: LONG_STEPS,
        probe_batches: longProbe.batches,
        probe_seconds: round4(longProbe.seconds),
        probe_pass_seconds: round4(longProbe.passSeconds),
        fine_tune_seconds: round4(longRun.seconds),
        ratio: round4(longProbe.seconds / longRun.seconds),
        held_out_loss: longRun.loss,
      },
    },
    serving_skip: servingSkip,
    long_range: longRange,
  };
  mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench/results/placement.json'), JSON.stringify(results, null, 2) + '\n');
  console.log(`
auto wins (≤ every projection's loss at ≤ 1/4 of its parameters): ${autoWins.join(', ') || 'none'} of ${Object.keys(report.tasks).length}
spearman(gradient rank, loss alone) mean over tasks ${results.spearman_gradient_rank_vs_loss}; per task ${Object.entries(
    report.tasks,
  )
    .map(([n, t]) => `${n} ${t.spearman_gradient_rank_vs_loss}`)
    .join(', ')}
probe_cost_ratio ${results.probe_cost_ratio} at ${HYPERPARAMETERS.maxSteps} steps (probe wall time ÷ the auto fine-tune's; a worker's first probe of the model ${results.probe_cost.first_probe.ratio}, all ${autoRuns.length} runs ${results.probe_cost.all_runs.ratio}), ${results.probe_cost.long_run.ratio} at ${LONG_STEPS} steps
${Object.entries(servingSkip)
  .map(
    ([name, f]) =>
      `serving ${f.requests} adapters on ${f.placements.length} placements touching ${f.touched} of ${f.projections} projections (${name}): skip ÷ compute-all throughput ${f.placed.ratio_skip_over_compute_all} (${f.placed.tokens_per_second.skip} vs ${f.placed.tokens_per_second.compute_all} tok/s); adapters on every projection ${f.every_projection.ratio_skip_over_compute_all}`,
  )
  .join('\n')}
${Object.entries(longRange.tasks)
  .map(
    ([name, t]) =>
      `long-range (${name}, mean held-out loss): ${Object.entries(t.mean_loss)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
  )
  .join('\n')}
written to bench/results/placement.json`);
}

/** Random placements, in a seeded order (Fisher–Yates), while they fit the budget (as auto fills it, without scores). */
function randomPlacement(random, keys, costOf, budget) {
  const order = [...keys];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const chosen = [];
  for (const key of order) if (costOf([...chosen, key]) <= budget) chosen.push(key);
  return chosen;
}

const round4 = (x) => Math.round(x * 1e4) / 1e4;
