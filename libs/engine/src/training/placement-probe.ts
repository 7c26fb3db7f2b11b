import type { Tensor as OrtTensor } from 'onnxruntime-node';
import { KeptSession } from '../graph/kept-session.js';
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
import { buildTrainingGraph, type TrainingGraph } from './training-graph.js';
import { accumulatedGradients, trainingSession } from './training-loop.js';
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
  /**
   * Wall time of the whole probe, and of its forward/backward passes alone (the rest prepares the
   * data, starts the session on a prober's first probe, and scores the gradients).
   */
  seconds: number;
  passSeconds: number;
}

export interface ProberOptions extends SessionOptions {
  /** Rank of the random sketch each weight gradient is seen through; default 32. */
  sketchRank?: number;
  /** Release the probe's session after this long unused (it starts again on the next probe); default: kept until close(). */
  idleMs?: number;
}

export interface ProbeRequest {
  data: readonly TrainingRecord[] | string;
  /** Batch size, sequence length and seed come from here, as the fine-tune would use them. */
  hyperparameters?: Partial<Hyperparameters>;
  /** Micro-batches whose gradients are summed; default one per 20 of the fine-tune's own (1 … 4). */
  batches?: number;
}

/**
 * Scores every projection of every layer as a place for an adapter, by the rank of the loss's
 * gradient with respect to its weight (Nowak et al., 2024: good placements have high-rank
 * gradients). One LoRA pool per projection with A random and B zero leaves the model exactly the
 * base; the gradient reaching B is then Aᵀ·∂L/∂W, a rank-R sketch of the weight gradient with
 * the same rank up to R, taken by the engine's own backward pass over a few batches (A is an
 * input, not differentiated). Nothing is trained. Deterministic for a seed.
 *
 * One prober per base model keeps its graph and session between probes: building and starting
 * them costs more than a short probe's passes, so only the first probe pays it.
 */
export class PlacementProber {
  readonly sketchRank: number;
  private readonly graph: TrainingGraph;
  private readonly session: KeptSession;

  constructor(
    private readonly model: TrainingModel,
    options: ProberOptions = {},
  ) {
    this.sketchRank = options.sketchRank ?? 32;
    this.graph = buildTrainingGraph(model.config, model.weights, {
      kind: 'lora',
      modules: [...targetModules(model.config)],
      rank: this.sketchRank,
      onlyB: true,
    });
    this.session = new KeptSession(() => trainingSession(this.graph, options), options.idleMs);
  }

  async probe(request: ProbeRequest): Promise<PlacementProbe> {
    const started = performance.now();
    const { config, tokenizer } = this.model;
    const h = checkedHyperparameters({ ...request.hyperparameters, validationFraction: 0 }, config);
    const data = prepareData(request.data, tokenizer, h);
    if (data.train.length === 0) throw new Error('probe data: no rows (every record is empty?)');
    const { totalSteps, gradientAccumulation } = loopSettings(h, data.train.length);
    const batches =
      request.batches ??
      Math.min(MAX_PROBE_BATCHES, Math.max(1, Math.ceil(totalSteps * gradientAccumulation * PROBE_SHARE)));
    const sketches = this.sketches(h.seed);
    const { gradients, tokens, passSeconds } = await this.session.use((session) =>
      accumulatedGradients(
        session,
        {
          graph: this.graph,
          evalGraph: this.graph,
          params: new Map(
            this.graph.parameters.map((p) => [p.name, new Float32Array(p.shape.reduce((a, b) => a * b, 1))]),
          ),
          extraFeeds: (rows, length) => ({
            ...sketches,
            slots: int64Tensor(new Array<number>(rows).fill(0), [rows, 1]),
            gates: float32Tensor(new Float32Array(rows * length).fill(1), [rows, length, 1]),
          }),
        },
        data.train,
        { batchSize: h.batchSize, batches },
      ),
    );
    const scores = projectionKeys(config).map(({ key, layer, module }) => {
      const [dIn, dOut] = projectionShape(config, module);
      const gradient = gradients.get(loraInputName(key, 'B'))!; // [1, R, dOut]
      let squares = 0;
      for (const value of gradient) squares += value * value;
      return {
        key,
        layer,
        module,
        gradientRank: effectiveRank(singularValues(gradient, this.sketchRank, dOut)),
        gradientNorm: Math.sqrt(squares),
        parametersPerRank: dIn + dOut,
      };
    });
    return {
      scores,
      sketchRank: this.sketchRank,
      batches,
      tokens,
      seconds: (performance.now() - started) / 1000,
      passSeconds,
    };
  }

  /** Whether the session is started (it is after a probe, until close() or the idle time). */
  get started(): boolean {
    return this.session.started;
  }

  /** Gives the session back (once running probes end); a later probe starts another. */
  close(): Promise<void> {
    return this.session.close();
  }

  /** The random A of every pool, [1, dIn, R] uniform in ±1/√dIn, drawn from the seed. */
  private sketches(seed: number): Record<string, OrtTensor> {
    const random = seededRandom(seed * 7 + 3);
    const feeds: Record<string, OrtTensor> = {};
    for (const { key, module } of projectionKeys(this.model.config)) {
      const [dIn] = projectionShape(this.model.config, module);
      const bound = 1 / Math.sqrt(dIn);
      const values = new Float32Array(dIn * this.sketchRank);
      for (let i = 0; i < values.length; i++) values[i] = (random() * 2 - 1) * bound;
      feeds[loraInputName(key, 'A')] = float32Tensor(values, [1, dIn, this.sketchRank]);
    }
    return feeds;
  }
}

/** One probe with a prober of its own, released after: for callers that probe a model once. */
export async function probePlacements(
  options: ProberOptions & ProbeRequest & { model: TrainingModel },
): Promise<PlacementProbe> {
  const { model, data, hyperparameters, batches, ...proberOptions } = options;
  const prober = new PlacementProber(model, proberOptions);
  try {
    return await prober.probe({
      data,
      ...(hyperparameters ? { hyperparameters } : {}),
      ...(batches ? { batches } : {}),
    });
  } finally {
    await prober.close();
  }
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
