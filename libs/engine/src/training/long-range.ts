import type { LongRangePair } from '../model/decoder.js';
import { seededRandom } from '../seeded-random.js';
import {
  checkedHyperparameters,
  loopSettings,
  metricsOf,
  prepareData,
  type TrainMetrics,
  type TrainOptions,
} from './trainer.js';
import { buildTrainingGraph } from './training-graph.js';
import { runTrainingLoop } from './training-loop.js';

export interface LongRangeTrainResult {
  metrics: TrainMetrics;
  /** Trainable parameters: 2 · d · rank per pair. */
  parameters: number;
}

/**
 * Trains long-range adapters on the frozen base model: an engine experiment on the extended
 * placement space of Nowak et al. (2024), reported by the placement benchmark and not offered
 * by the API (serving graphs have no long-range inputs). Each pair's A starts kaiming-uniform
 * and B at zero, as a LoRA's, so step 0 is the base model; scale α/r.
 */
export async function trainLongRange(
  options: TrainOptions & { pairs: readonly LongRangePair[] },
): Promise<LongRangeTrainResult> {
  const { config, weights, tokenizer } = options.model;
  const h = checkedHyperparameters(options.hyperparameters, config);
  const data = prepareData(options.data, tokenizer, h, options.validation);
  const trainable = { kind: 'long-range', pairs: options.pairs, rank: h.rank, scale: h.alpha / h.rank } as const;
  const graph = buildTrainingGraph(config, weights, trainable);
  const evalGraph = buildTrainingGraph(config, weights, trainable, { gradients: false });
  const random = seededRandom(h.seed);
  const bound = 1 / Math.sqrt(config.dModel);
  const params = new Map<string, Float32Array>();
  for (const p of graph.parameters) {
    const values = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    if (p.name.endsWith('.A')) for (let i = 0; i < values.length; i++) values[i] = (random() * 2 - 1) * bound;
    params.set(p.name, values);
  }
  const result = await runTrainingLoop(
    { graph, evalGraph, params, extraFeeds: () => ({}) },
    data,
    loopSettings(h, data.train.length),
    options,
  );
  return { metrics: metricsOf(result), parameters: options.pairs.length * 2 * config.dModel * h.rank };
}
