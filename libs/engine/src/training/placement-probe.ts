import { float32Tensor, int64Tensor, type SessionOptions } from '../graph/onnx-session.js';
import {
  projectionKeys,
  projectionShape,
  targetModules,
  type DecoderConfig,
  type TargetModule,
} from '../model/decoder-config.js';
import { loraInputName } from '../model/decoder.js';
import { seededRandom } from '../seeded-random.js';
import { effectiveRank, singularValues } from './gradient-rank.js';
import type { TrainingRecord } from './training-data.js';
import { buildTrainingGraph } from './training-graph.js';
import { accumulatedGradients } from './training-loop.js';
import {
  checkedHyperparameters,
  loopSettings,
  prepareData,
  type Hyperparameters,
  type TrainingModel,
} from './trainer.js';

/**
 * The probe's micro-batches: one for every 20 the fine-tune it places will run (its max_steps,
 * or its epochs over these records), at least 1 and at most 4, so the probe costs about 5% of a
 * short run and less of a long one.
 */
const PROBE_SHARE = 1 / 20;
const MAX_PROBE_BATCHES = 4;

/** One candidate placement (a layer's projection) and what its gradient says of it. */
export interface PlacementScore {
  key: string;
  layer: number;
  module: TargetModule;
  /** Effective rank of the projection's accumulated weight gradient, as the sketch sees it (1 … sketch rank). */
  gradientRank: number;
  /** Frobenius norm of the sketched gradient: the second signal. */
  gradientNorm: number;
  /** LoRA parameters this placement costs per unit of rank: d_in + d_out. */
  parametersPerRank: number;
}

export interface PlacementProbe {
  scores: PlacementScore[];
  sketchRank: number;
  batches: number;
  tokens: number;
  /** Wall time of the whole probe, and of its forward/backward passes alone (the rest builds and starts its graph). */
  seconds: number;
  passSeconds: number;
}

export interface ProbeOptions extends SessionOptions {
  model: TrainingModel;
  data: readonly TrainingRecord[] | string;
  /** Batch size, sequence length and seed come from here, as the fine-tune would use them. */
  hyperparameters?: Partial<Hyperparameters>;
  /** Micro-batches whose gradients are summed; default one per 20 of the fine-tune's own (1 … 4). */
  batches?: number;
  /** Rank of the random sketch each weight gradient is seen through; default 32. */
  sketchRank?: number;
}

/**
 * Scores every projection of every layer as a place for an adapter, by the rank of the loss's
 * gradient with respect to its weight (Nowak et al., 2024: good placements have high-rank
 * gradients). One LoRA pool per projection with A random and B zero leaves the model exactly the
 * base; the gradient reaching B is then Aᵀ·∂L/∂W, a rank-R sketch of the weight gradient with
 * the same rank up to R, taken by the engine's own backward pass over a few batches. Nothing is
 * trained. Deterministic for a seed.
 */
export async function probePlacements(options: ProbeOptions): Promise<PlacementProbe> {
  const started = performance.now();
  const { config, weights, tokenizer } = options.model;
  const h = checkedHyperparameters({ ...options.hyperparameters, validationFraction: 0 }, config);
  const sketchRank = options.sketchRank ?? 32;
  const data = prepareData(options.data, tokenizer, h);
  const { totalSteps, gradientAccumulation } = loopSettings(h, data.train.length);
  const batches =
    options.batches ??
    Math.min(MAX_PROBE_BATCHES, Math.max(1, Math.ceil(totalSteps * gradientAccumulation * PROBE_SHARE)));
  const candidates = projectionKeys(config);
  const graph = buildTrainingGraph(config, weights, {
    kind: 'lora',
    modules: [...targetModules(config)],
    rank: sketchRank,
  });
  const random = seededRandom(h.seed * 7 + 3);
  const params = new Map<string, Float32Array>();
  for (const p of graph.parameters) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(p.shape[1]!);
    params.set(
      p.name,
      p.name.endsWith('.A')
        ? Float32Array.from({ length: size }, () => (random() * 2 - 1) * bound)
        : new Float32Array(size),
    );
  }
  const { gradients, tokens, passSeconds } = await accumulatedGradients(
    {
      graph,
      evalGraph: graph,
      params,
      extraFeeds: (rows, length) => ({
        slots: int64Tensor(new Array<number>(rows).fill(0), [rows, 1]),
        gates: float32Tensor(new Float32Array(rows * length).fill(1), [rows, length, 1]),
      }),
    },
    data.train,
    { batchSize: h.batchSize, batches },
    options,
  );
  const scores = candidates.map(({ key, layer, module }) => {
    const [dIn, dOut] = projectionShape(config, module);
    const gradient = gradients.get(loraInputName(key, 'B'))!; // [1, R, dOut]
    let squares = 0;
    for (const value of gradient) squares += value * value;
    return {
      key,
      layer,
      module,
      gradientRank: effectiveRank(singularValues(gradient, sketchRank, dOut)),
      gradientNorm: Math.sqrt(squares),
      parametersPerRank: dIn + dOut,
    };
  });
  return { scores, sketchRank, batches, tokens, seconds: (performance.now() - started) / 1000, passSeconds };
}

/** PEFT's default LoRA targets when none are given (its per-architecture mapping). */
export function peftDefaultModules(config: DecoderConfig): TargetModule[] {
  return config.architecture === 'gpt2' ? ['attn.c_attn'] : ['self_attn.q_proj', 'self_attn.v_proj'];
}

/** LoRA parameters of PEFT's default placement at `rank`: the budget `auto` gets unless told. */
export function defaultPlacementBudget(config: DecoderConfig, rank: number): number {
  return peftDefaultModules(config).reduce((sum, module) => {
    const [dIn, dOut] = projectionShape(config, module);
    return sum + config.nLayers * rank * (dIn + dOut);
  }, 0);
}

/**
 * The highest-scoring placements (gradient rank, then gradient norm, then key for a stable
 * order) whose LoRA parameters at `rank` fit `budgetParameters`. A placement that does not fit
 * is skipped and smaller ones after it may still be taken.
 */
export function selectPlacements(
  scores: readonly PlacementScore[],
  budget: { rank: number; budgetParameters: number },
): string[] {
  const ranked = [...scores].sort(
    (a, b) => b.gradientRank - a.gradientRank || b.gradientNorm - a.gradientNorm || a.key.localeCompare(b.key),
  );
  const chosen: string[] = [];
  let used = 0;
  for (const score of ranked) {
    const cost = budget.rank * score.parametersPerRank;
    if (used + cost > budget.budgetParameters) continue;
    chosen.push(score.key);
    used += cost;
  }
  if (chosen.length === 0)
    throw new Error(`a budget of ${budget.budgetParameters} parameters fits no placement at rank ${budget.rank}`);
  return chosen;
}
