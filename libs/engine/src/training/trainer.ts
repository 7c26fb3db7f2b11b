import type { LoraAdapter } from '../adapter/lora-adapter.js';
import { writePeftAdapter, type PeftAdapterFiles } from '../adapter/peft-format.js';
import { slotFactors } from '../adapter/slot-factors.js';
import { type createSession, float32Tensor, int64Tensor, type SessionOptions } from '../graph/onnx-session.js';
import {
  projectionKey,
  projectionKeys,
  projectionShape,
  targetModules,
  weightShapes,
  type DecoderConfig,
  type DecoderWeights,
  type TargetModule,
} from '../model/decoder-config.js';
import { DecoderSession } from '../model/decoder-session.js';
import { loraInputName, type BaseWeights } from '../model/decoder.js';
import { seededRandom } from '../seeded-random.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import {
  packExamples,
  parseTrainingJsonl,
  splitRecords,
  tokenizeRecord,
  PACKINGS,
  type PackedSequence,
  type Packing,
  type TokenizedExample,
  type TrainingRecord,
} from './training-data.js';
import { buildTrainingGraph, type TrainableSet } from './training-graph.js';
import {
  evaluate,
  runTrainingLoop,
  trainingSession,
  type Evaluation,
  type LoopCallbacks,
  type LoopSettings,
  type TrainingProblem,
} from './training-loop.js';

/** The base model a run trains against. */
export interface TrainingModel {
  name?: string;
  config: DecoderConfig;
  /** In memory, or a weight file (large models: mapped, never held in the JS heap). */
  weights: BaseWeights;
  tokenizer: Tokenizer;
}

export interface Hyperparameters {
  learningRate: number;
  epochs: number;
  /** Overrides epochs when set. */
  maxSteps?: number;
  batchSize: number;
  gradientAccumulation: number;
  maxSequenceLength: number;
  warmupSteps: number;
  /** The cosine schedule's floor as a share of learningRate (transformers' min_lr_rate). */
  minLearningRateRatio: number;
  weightDecay: number;
  /** AdamW's β₁, β₂ and ε (transformers' adam_beta1, adam_beta2, adam_epsilon). */
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
  clipNorm: number;
  seed: number;
  validationFraction: number;
  /** How training and validation rows hold several documents. */
  packing: Packing;
  /** Steps between validation evaluations (and one at the end); 0: see `evaluations`. */
  evalEvery: number;
  /** With evalEvery 0: this many evaluations spread evenly over the run; none or 0: at the end only. */
  evaluations?: number;
  checkpointEvery: number;
  rank: number;
  alpha: number;
  /** Defaults to every projection of the architecture. */
  targetModules?: TargetModule[];
  /**
   * Projection keys to adapt (`h.2.mlp.c_fc`): a per-layer placement, e.g. chosen by
   * `probePlacements`. Overrides targetModules (the modules are the placements' own).
   */
  placements?: string[];
}

export const DEFAULT_HYPERPARAMETERS: Hyperparameters = {
  learningRate: 2e-3,
  epochs: 1,
  batchSize: 8,
  gradientAccumulation: 1,
  maxSequenceLength: 128,
  warmupSteps: 10,
  minLearningRateRatio: 0,
  weightDecay: 0,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  clipNorm: 1,
  seed: 0,
  validationFraction: 0.1,
  packing: 'document_masked',
  evalEvery: 0,
  checkpointEvery: 0,
  rank: 8,
  alpha: 16,
};

export interface TrainOptions extends LoopCallbacks, SessionOptions {
  model: TrainingModel;
  /** Records, or JSONL text of them. */
  data: readonly TrainingRecord[] | string;
  /** A separate validation set; without it `validationFraction` of `data` is held out. */
  validation?: readonly TrainingRecord[] | string;
  hyperparameters?: Partial<Hyperparameters>;
}

export interface TrainMetrics {
  steps: number;
  trainLoss: number;
  validationLoss: number | null;
  validationAccuracy: number | null;
  /** Validation loss before training: for LoRA, the base model's. */
  initialValidationLoss: number | null;
  trainTokens: number;
  seconds: number;
  tokensPerSecond: number;
}

export interface LoraTrainResult {
  adapter: LoraAdapter;
  peft: PeftAdapterFiles;
  metrics: TrainMetrics;
  /** The base model's mean pooled hidden state over the training records: the adapter's routing key. */
  centroid: Float32Array;
}

/** Records → tokenized train/validation examples and packed rows (split by the seed unless a validation set is given). */
export function prepareData(
  data: readonly TrainingRecord[] | string,
  tokenizer: Tokenizer,
  h: Hyperparameters,
  validationData?: readonly TrainingRecord[] | string,
) {
  const parse = (d: readonly TrainingRecord[] | string) => (typeof d === 'string' ? parseTrainingJsonl(d) : d);
  const records = parse(data);
  const { train, validation } = validationData
    ? { train: records, validation: parse(validationData) }
    : splitRecords(records, h.validationFraction, seededRandom(h.seed + 17));
  const tokenize = (rs: readonly TrainingRecord[]) => rs.map((r) => tokenizeRecord(r, tokenizer));
  const trainExamples = tokenize(train);
  return {
    trainExamples,
    train: packExamples(trainExamples, h.maxSequenceLength, tokenizer.endOfText, h.packing),
    validation: packExamples(tokenize(validation), h.maxSequenceLength, tokenizer.endOfText, h.packing),
  };
}

/** Every problem with a run's hyperparameters on this model, named (empty when they are fine). */
export function hyperparameterProblems(h: Hyperparameters, config: DecoderConfig): string[] {
  const problems: string[] = [];
  const positiveInt = (name: keyof Hyperparameters, value: number | undefined) => {
    if (value !== undefined && (!Number.isInteger(value) || value < 1))
      problems.push(`${name} must be a positive integer, got ${value}`);
  };
  for (const name of ['batchSize', 'gradientAccumulation', 'rank', 'maxSteps'] as const) positiveInt(name, h[name]);
  if (!(h.learningRate > 0 && h.learningRate < 1))
    problems.push(`learningRate must be in (0, 1), got ${h.learningRate}`);
  if (!(h.epochs > 0)) problems.push(`epochs must be positive, got ${h.epochs}`);
  if (!(h.alpha > 0)) problems.push(`alpha must be positive, got ${h.alpha}`);
  if (!Number.isInteger(h.maxSequenceLength) || h.maxSequenceLength < 2 || h.maxSequenceLength > config.maxPositions) {
    problems.push(
      `maxSequenceLength must be an integer from 2 to the model's ${config.maxPositions} positions, got ${h.maxSequenceLength}`,
    );
  }
  if (!(h.validationFraction >= 0 && h.validationFraction < 1))
    problems.push(`validationFraction must be in [0, 1), got ${h.validationFraction}`);
  if (!(h.weightDecay >= 0) || !(h.clipNorm >= 0) || !(h.warmupSteps >= 0))
    problems.push('weightDecay, clipNorm and warmupSteps must not be negative');
  if (!(h.minLearningRateRatio >= 0 && h.minLearningRateRatio <= 1))
    problems.push(`minLearningRateRatio must be in [0, 1], got ${h.minLearningRateRatio}`);
  for (const name of ['adamBeta1', 'adamBeta2'] as const)
    if (!(h[name] >= 0 && h[name] < 1)) problems.push(`${name} must be in [0, 1), got ${h[name]}`);
  if (!(h.adamEpsilon > 0)) problems.push(`adamEpsilon must be positive, got ${h.adamEpsilon}`);
  if (!PACKINGS.includes(h.packing)) problems.push(`packing must be one of ${PACKINGS.join(', ')}, got ${h.packing}`);
  const known = targetModules(config);
  if (h.placements) {
    const keys = new Set(projectionKeys(config).map((p) => p.key));
    if (h.placements.length === 0) problems.push('placements must name at least one projection');
    for (const key of h.placements)
      if (!keys.has(key)) problems.push(`placement ${key} is not a projection of this ${config.architecture} model`);
    if (new Set(h.placements).size !== h.placements.length) problems.push('placements must not repeat a projection');
  }
  for (const m of h.targetModules ?? [])
    if (!known.includes(m))
      problems.push(
        `target module ${m} is not a projection of this ${config.architecture} model (${known.join(', ')})`,
      );
  return problems;
}

export function checkedHyperparameters(
  given: Partial<Hyperparameters> | undefined,
  config: DecoderConfig,
): Hyperparameters {
  const h: Hyperparameters = {
    ...DEFAULT_HYPERPARAMETERS,
    maxSequenceLength: Math.min(DEFAULT_HYPERPARAMETERS.maxSequenceLength, config.maxPositions),
    ...given,
  };
  const problems = hyperparameterProblems(h, config);
  if (problems.length) throw new Error(`hyperparameters: ${problems.join('; ')}`);
  return h;
}

/** The loop a run with these hyperparameters makes over `trainRows` packed rows: its steps, warmup and evaluations. */
export function loopSettings(h: Hyperparameters, trainRows: number): LoopSettings {
  const rowsPerStep = h.batchSize * h.gradientAccumulation;
  const totalSteps = h.maxSteps ?? Math.max(1, Math.ceil((h.epochs * trainRows) / rowsPerStep));
  const evalEvery = h.evalEvery || (h.evaluations ? Math.max(1, Math.ceil(totalSteps / h.evaluations)) : 0);
  return { ...h, totalSteps, evalEvery, warmupSteps: Math.min(h.warmupSteps, totalSteps) };
}

export function metricsOf(result: {
  steps: number;
  lastLoss: number;
  validation: Evaluation | null;
  initialValidation: Evaluation | null;
  tokens: number;
  seconds: number;
}): TrainMetrics {
  return {
    steps: result.steps,
    trainLoss: result.lastLoss,
    validationLoss: result.validation?.loss ?? null,
    validationAccuracy: result.validation?.accuracy ?? null,
    initialValidationLoss: result.initialValidation?.loss ?? null,
    trainTokens: result.tokens,
    seconds: result.seconds,
    tokensPerSecond: result.tokens / result.seconds,
  };
}

/**
 * Fine-tunes a LoRA adapter on the frozen base model. A starts as PEFT starts it
 * (kaiming-uniform, bound 1/√d_in) and B at zero, so step 0 is exactly the base model.
 */
export async function train(options: TrainOptions): Promise<LoraTrainResult> {
  const { config, weights, tokenizer } = options.model;
  const h = checkedHyperparameters(options.hyperparameters, config);
  const placed = h.placements ? new Set(h.placements) : null;
  const projections = projectionKeys(config).filter((p) =>
    placed ? placed.has(p.key) : (h.targetModules ?? targetModules(config)).includes(p.module),
  );
  const modules = [...new Set(projections.map((p) => p.module))];
  const data = prepareData(options.data, tokenizer, h, options.validation);
  const trainable: TrainableSet = {
    kind: 'lora',
    modules,
    rank: h.rank,
    ...(placed ? { projections: [...placed] } : {}),
  };
  const graph = buildTrainingGraph(config, weights, trainable);
  const evalGraph = buildTrainingGraph(config, weights, trainable, { gradients: false });

  const random = seededRandom(h.seed);
  const params = new Map<string, Float32Array>();
  for (const p of graph.parameters) {
    const [, rows] = p.shape;
    const isA = p.name.endsWith('.A');
    const size = p.shape.reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(rows!);
    params.set(
      p.name,
      isA ? Float32Array.from({ length: size }, () => (random() * 2 - 1) * bound) : new Float32Array(size),
    );
  }
  const scale = h.alpha / h.rank;
  const problem: TrainingProblem = {
    graph,
    evalGraph,
    params,
    extraFeeds: (rows, tokens) => ({
      slots: int64Tensor(new Array<number>(rows).fill(0), [rows, 1]),
      gates: float32Tensor(new Float32Array(rows * tokens).fill(scale), [rows, tokens, 1]),
    }),
  };
  const result = await runTrainingLoop(problem, data, loopSettings(h, data.train.length), options);

  const factors = new Map<string, { a: Float32Array; b: Float32Array }>();
  for (const { key } of projections) {
    factors.set(key, {
      a: result.params.get(loraInputName(key, 'A'))!,
      b: result.params.get(loraInputName(key, 'B'))!,
    });
  }
  const adapter: LoraAdapter = { rank: h.rank, alpha: h.alpha, targetModules: modules, factors };
  const centroid = await poolingCentroid(options.model, data.trainExamples, h.maxSequenceLength, options);
  return {
    adapter,
    peft: writePeftAdapter(adapter, options.model.name ?? 'tessera-base'),
    metrics: metricsOf(result),
    centroid,
  };
}

export interface EvaluatorOptions {
  maxSequenceLength?: number;
  batchSize?: number;
  /** Scores only the first this many packed rows of a call's records: what one call costs is bounded, however long the text. */
  maxRows?: number;
  /** Default document_masked: each record scored as if alone. */
  packing?: Packing;
}

/**
 * Scores text under any adapter of one shape (its target modules and rank) with one graph and
 * one session: the adapter's factors are feeds, so another adapter or another document costs
 * runs, not a graph build and a session. With no adapter (null) it scores the base model.
 */
export class AdapterEvaluator {
  private constructor(
    private readonly model: TrainingModel,
    private readonly shape: { modules: readonly TargetModule[]; rank: number },
    private readonly evalGraph: ReturnType<typeof buildTrainingGraph>,
    private readonly session: Awaited<ReturnType<typeof createSession>>,
    private readonly options: EvaluatorOptions,
  ) {}

  /** An evaluator for adapters shaped like `like` (any adapter when null: scoring the base model only). */
  static async create(
    model: TrainingModel,
    like: LoraAdapter | null,
    options: SessionOptions & EvaluatorOptions = {},
  ): Promise<AdapterEvaluator> {
    const shape = { modules: like?.targetModules ?? [targetModules(model.config)[0]!], rank: like?.rank ?? 1 };
    const evalGraph = buildTrainingGraph(
      model.config,
      model.weights,
      { kind: 'lora', modules: shape.modules, rank: shape.rank },
      { gradients: false },
    );
    const session = await trainingSession(evalGraph, options);
    // The serialized model embeds every base weight; the session has it now, runs need only the parameter list.
    return new AdapterEvaluator(model, shape, { ...evalGraph, model: new Uint8Array(0) }, session, options);
  }

  /** Whether `adapter` can be scored here: the base model always; an adapter of the same rank and modules. */
  fits(adapter: LoraAdapter | null): boolean {
    if (!adapter) return true;
    return (
      adapter.rank === this.shape.rank &&
      [...adapter.targetModules].sort().join() === [...this.shape.modules].sort().join()
    );
  }

  async evaluate(adapter: LoraAdapter | null, records: readonly TrainingRecord[] | string): Promise<Evaluation> {
    if (!this.fits(adapter))
      throw new Error(`this evaluator scores rank ${this.shape.rank} adapters of ${this.shape.modules.join(', ')}`);
    const h = checkedHyperparameters(
      {
        validationFraction: 0,
        ...(this.options.maxSequenceLength ? { maxSequenceLength: this.options.maxSequenceLength } : {}),
        ...(this.options.packing ? { packing: this.options.packing } : {}),
      },
      this.model.config,
    );
    const rows = prepareData(records, this.model.tokenizer, h).train.slice(0, this.options.maxRows);
    const params = new Map<string, Float32Array>();
    for (const p of this.evalGraph.parameters) {
      const key = p.name.replace(/^lora\./, '').replace(/\.[AB]$/, '');
      const factors = adapter?.factors.get(key);
      const size = p.shape.reduce((a, b) => a * b, 1);
      params.set(p.name, factors ? (p.name.endsWith('.A') ? factors.a : factors.b) : new Float32Array(size));
    }
    // A zero gate leaves the base model alone whatever the (zero) factors are.
    const scale = adapter ? adapter.alpha / adapter.rank : 0;
    const problem: TrainingProblem = {
      graph: this.evalGraph,
      evalGraph: this.evalGraph,
      params,
      extraFeeds: (n, tokens) => ({
        slots: int64Tensor(new Array<number>(n).fill(0), [n, 1]),
        gates: float32Tensor(new Float32Array(n * tokens).fill(scale), [n, tokens, 1]),
      }),
    };
    return evaluate(this.session, problem, params, rows, this.options.batchSize ?? 8);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/**
 * Mean loss per counted token and accuracy of the base model with one adapter (or none) on
 * records: what a fine-tune's validation reports, for any adapter and any text.
 */
export async function evaluateAdapter(
  model: TrainingModel,
  adapter: LoraAdapter | null,
  records: readonly TrainingRecord[] | string,
  options: SessionOptions & EvaluatorOptions = {},
): Promise<Evaluation> {
  const evaluator = await AdapterEvaluator.create(model, adapter, options);
  try {
    return await evaluator.evaluate(adapter, records);
  } finally {
    await evaluator.release().catch(() => undefined);
  }
}

/**
 * The base model's mean pooled final hidden state over examples (each truncated to
 * `maxLength` tokens, pooled over its own tokens, then averaged): where an adapter's
 * training data sits in the base model's representation space.
 */
export async function poolingCentroid(
  model: TrainingModel,
  examples: readonly TokenizedExample[],
  maxLength: number,
  options: SessionOptions = {},
): Promise<Float32Array> {
  const session = await DecoderSession.load(model.config, model.weights, options);
  const d = model.config.dModel;
  const centroid = new Float32Array(d);
  const batchSize = 8;
  for (let start = 0; start < examples.length; start += batchSize) {
    const batch = examples.slice(start, start + batchSize).map((e) => e.tokens.slice(0, maxLength));
    const width = Math.max(...batch.map((t) => t.length));
    const { pooledHidden } = await session.forward({
      ids: batch.map((t) => [...t, ...new Array<number>(width - t.length).fill(0)]),
      positions: batch.map((t) => Array.from({ length: width }, (_, i) => (i < t.length ? i : 0))),
      attentionMask: batch.map((t) => Array.from({ length: width }, (_, i) => (i < t.length ? 1 : 0))),
    });
    for (let i = 0; i < pooledHidden.length; i++) centroid[i % d]! += pooledHidden[i]! / examples.length;
  }
  return centroid;
}

export interface GateTrainOptions extends TrainOptions {
  /** The frozen adapters the gate chooses among, in gate order. */
  adapters: readonly LoraAdapter[];
}

export interface GateTrainResult {
  /** Each adapter's router vectors by projection key, [dIn] each, in gate order: LoraAdapter.routers for serving. */
  routers: Map<string, Float32Array>[];
  metrics: TrainMetrics;
}

/**
 * Trains only a learned gate over K frozen adapters (X-LoRA style, per layer): in every
 * adapted projection, softmax over the adapters of ⟨x, r_j⟩. Router vectors start at
 * zero, an even mixture, so step 0 is the adapters' plain average.
 */
export async function trainGate(options: GateTrainOptions): Promise<GateTrainResult> {
  const { config, weights, tokenizer } = options.model;
  const h = checkedHyperparameters(options.hyperparameters, config);
  const K = options.adapters.length;
  if (K < 2) throw new Error('gate training needs at least two adapters');
  const modules = [...targetModules(config)].filter((m) => options.adapters.some((a) => a.targetModules.includes(m)));
  const rank = Math.max(...options.adapters.map((a) => a.rank));
  const trainable = { kind: 'gate' as const, modules, rank, adapters: K };
  const data = prepareData(options.data, tokenizer, h, options.validation);
  const graph = buildTrainingGraph(config, weights, trainable);
  const evalGraph = buildTrainingGraph(config, weights, trainable, { gradients: false });

  // Frozen pools: slot j holds adapter j.
  const pools: Record<string, ReturnType<typeof float32Tensor>> = {};
  const keys: string[] = [];
  for (let layer = 0; layer < config.nLayers; layer++) {
    for (const module of modules) {
      const key = projectionKey(config, layer, module);
      const [dIn, dOut] = projectionShape(config, module);
      keys.push(key);
      const a = new Float32Array(K * dIn * rank);
      const b = new Float32Array(K * rank * dOut);
      options.adapters.forEach((adapter, j) => {
        const slot = slotFactors(adapter, key, dIn, dOut, rank);
        a.set(slot.a, j * dIn * rank);
        b.set(slot.b, j * rank * dOut);
      });
      pools[loraInputName(key, 'A')] = float32Tensor(a, [K, dIn, rank]);
      pools[loraInputName(key, 'B')] = float32Tensor(b, [K, rank, dOut]);
    }
  }
  const slots = Array.from({ length: K }, (_, j) => j);
  const problem: TrainingProblem = {
    graph,
    evalGraph,
    params: new Map(graph.parameters.map((p) => [p.name, new Float32Array(p.shape.reduce((x, y) => x * y, 1))])),
    extraFeeds: (rows, tokens) => ({
      ...pools,
      slots: int64Tensor(new Array<number[]>(rows).fill(slots).flat(), [rows, K]),
      gates: float32Tensor(new Float32Array(rows * tokens * K).fill(1), [rows, tokens, K]),
    }),
  };
  const result = await runTrainingLoop(problem, data, loopSettings(h, data.train.length), options);
  const routers = options.adapters.map(() => new Map<string, Float32Array>());
  for (const key of keys) {
    const trained = result.params.get(loraInputName(key, 'router'))!;
    const dIn = trained.length / K;
    routers.forEach((own, j) => own.set(key, trained.slice(j * dIn, (j + 1) * dIn)));
  }
  return { routers, metrics: metricsOf(result) };
}

export interface BaseTrainOptions extends LoopCallbacks, SessionOptions {
  config: DecoderConfig;
  /** Packed rows (a corpus is usually too large to hold as records). */
  data: { train: readonly PackedSequence[]; validation: readonly PackedSequence[] };
  hyperparameters?: Partial<Hyperparameters>;
  /** Starting weights; default GPT-2's initialisation from the seed. */
  weights?: DecoderWeights;
}

/** Trains every weight of a base model (how the built-in demo model is made). */
export async function trainBase(
  options: BaseTrainOptions,
): Promise<{ weights: DecoderWeights; metrics: TrainMetrics }> {
  const h = checkedHyperparameters(options.hyperparameters, options.config);
  const weights = options.weights ?? initialWeights(options.config, h.seed);
  const problem: TrainingProblem = {
    graph: buildTrainingGraph(options.config, weights, { kind: 'all' }),
    evalGraph: buildTrainingGraph(options.config, weights, { kind: 'all' }, { gradients: false }),
    params: weights,
    extraFeeds: () => ({}),
  };
  const result = await runTrainingLoop(problem, options.data, loopSettings(h, options.data.train.length), options);
  return { weights: result.params, metrics: metricsOf(result) };
}

/**
 * GPT-2's initialisation: weights N(0, 0.02), the projections into the residual stream
 * scaled by 1/√(2·layers), biases 0, norm gains 1.
 */
export function initialWeights(config: DecoderConfig, seed: number): DecoderWeights {
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const weights: DecoderWeights = new Map();
  const residual = /(attn\.c_proj|mlp\.c_proj|o_proj|down_proj)\.weight$/;
  for (const [name, shape] of weightShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (/(ln_|norm)[^.]*\.weight$/.test(name)) data = new Float32Array(size).fill(1);
    else if (name.endsWith('.bias')) data = new Float32Array(size);
    else {
      const std = 0.02 / (residual.test(name) ? Math.sqrt(2 * config.nLayers) : 1);
      data = Float32Array.from({ length: size }, () => normal() * std);
    }
    weights.set(name, data);
  }
  return weights;
}
