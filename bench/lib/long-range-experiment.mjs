// The extended placement space (issue 23, optional): long-range adapters from layer i's input to
// layer j's output (Nowak et al., 2024), an engine experiment not offered by the API. On each task
// and seed, at the parameter count of the auto placement, three long-range sets against the auto
// and PEFT-default LoRA placements and LoRA on every projection (4× the parameters), all trained
// the same steps and scored the same way (the training loop's validation pass over the held-out
// records, so the figures compare with each other, not with the placement table's evaluator).
import { step } from '../../infra/scripts/lib/run.mjs';

const THREADS = 2;

/** Long-range sets for `layers` layers, each with the rank that spends `budget` parameters at width d. */
function longRangeSets(layers, d, budget) {
  const pairs = [];
  for (let from = 0; from < layers; from++) for (let to = from; to < layers; to++) pairs.push({ from, to });
  const sets = {
    every_pair: pairs,
    cross_layer: pairs.filter((p) => p.from < p.to),
    within_block: pairs.filter((p) => p.from === p.to),
  };
  return Object.fromEntries(
    Object.entries(sets).map(([name, set]) => [name, { pairs: set, rank: Math.floor(budget / (2 * d * set.length)) }]),
  );
}

export async function longRangeFigures(
  engine,
  model,
  tasks,
  /** costOf: the LoRA parameters of a placement at hyperparameters.rank (the placement bench's). */
  { hyperparameters, seeds, autoPlacements, peftDefault, everyProjection, costOf },
) {
  const { config } = model;
  // The same scale (α/r) for every set, as the LoRA placements train at.
  const scaleRatio = hyperparameters.alpha / hyperparameters.rank;
  const validationLoss = (metrics) => {
    if (!(metrics.validationLoss > 0)) throw new Error('no held-out loss was measured');
    return Math.round(metrics.validationLoss * 1e4) / 1e4;
  };
  const figures = {};
  for (const [name, task] of Object.entries(tasks)) {
    const budget = Math.max(...autoPlacements[name].map(costOf));
    const sets = longRangeSets(config.nLayers, config.dModel, budget);
    const losses = {
      peft_default: [],
      auto: [],
      every_projection: [],
      ...Object.fromEntries(Object.keys(sets).map((s) => [s, []])),
    };
    for (const [s, seed] of seeds.entries()) {
      step(`long-range experiment: ${name}, seed ${seed}`);
      for (const [strategy, placements] of [
        ['peft_default', peftDefault],
        ['auto', autoPlacements[name][s]],
        ['every_projection', everyProjection],
      ]) {
        const result = await engine.train({
          model,
          data: task.train,
          validation: task.heldOut,
          hyperparameters: { ...hyperparameters, seed, placements },
          threads: THREADS,
        });
        losses[strategy].push(validationLoss(result.metrics));
      }
      for (const [setName, { pairs, rank }] of Object.entries(sets)) {
        const result = await engine.trainLongRange({
          model,
          data: task.train,
          validation: task.heldOut,
          pairs,
          hyperparameters: { ...hyperparameters, rank, alpha: scaleRatio * rank, seed },
          threads: THREADS,
        });
        if (result.metrics.steps !== hyperparameters.maxSteps) throw new Error(`trained ${result.metrics.steps} steps`);
        if (result.parameters > budget)
          throw new Error(`${setName} spends ${result.parameters} > ${budget} parameters`);
        losses[setName].push(validationLoss(result.metrics));
      }
    }
    const mean = (values) => Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 1e4) / 1e4;
    figures[name] = {
      budget_parameters: budget,
      every_projection_parameters: costOf(everyProjection),
      sets: Object.fromEntries(
        Object.entries(sets).map(([setName, { pairs, rank }]) => [
          setName,
          { rank, pairs: pairs.map((p) => `${p.from}→${p.to}`), parameters: pairs.length * 2 * config.dModel * rank },
        ]),
      ),
      losses,
      mean_loss: Object.fromEntries(Object.entries(losses).map(([k, v]) => [k, mean(v)])),
    };
  }
  return {
    what: "held-out loss (the training loop's validation pass) of long-range adapters, layer i's input → layer j's output, at the auto placement's parameter count: every pair i ≤ j, cross-layer pairs only (i < j), within-block pairs only (i = j: an adapter across the whole block); against the auto and PEFT-default LoRA placements and LoRA on every projection (4× the parameters), same steps, seeds and α/r. An engine experiment: the API does not offer long-range adapters",
    tasks: figures,
  };
}
