import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { createSession, float32Tensor, int64Tensor, type SessionOptions } from '../graph/onnx-session.js';
import { seededRandom } from '../seeded-random.js';
import type { TrainingCheckpoint } from './checkpoint.js';
import { AdamW, clipGradients, learningRateAt, type TensorSet } from './optimizer.js';
import { shuffledIndices, type PackedSequence } from './training-data.js';
import { gradName, type TrainingGraph } from './training-graph.js';

export interface LoopSettings {
  /** Peak learning rate. */
  learningRate: number;
  /** Optimizer steps; each takes `gradientAccumulation` micro-batches of `batchSize` rows. */
  totalSteps: number;
  batchSize: number;
  gradientAccumulation: number;
  warmupSteps: number;
  /** The cosine's floor as a share of the peak (transformers' min_lr_rate). */
  minLearningRateRatio: number;
  weightDecay: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
  /** Global gradient-norm clip (0 = none). */
  clipNorm: number;
  seed: number;
  /** Validate every N steps (and always after the last); 0 = only after the last. */
  evalEvery: number;
  /** Checkpoint every N steps; 0 = never (cancellation still makes one). */
  checkpointEvery: number;
}

export interface TrainingProgress {
  step: number;
  totalSteps: number;
  /** Passes over the training rows so far (fractional). */
  epoch: number;
  /** Mean loss per counted token of this step. */
  loss: number;
  learningRate: number;
  gradNorm: number;
  /** Tokens (rows × length) through the training graph per second since the start. */
  tokensPerSecond: number;
  validation?: Evaluation;
}

export interface Evaluation {
  /** Mean −log p per counted token (nats). */
  loss: number;
  /** Share of counted tokens whose argmax prediction is right. */
  accuracy: number;
  tokens: number;
}

export interface LoopCallbacks {
  onProgress?: (progress: TrainingProgress) => void;
  /** Every `checkpointEvery` steps, and once more when cancelled. */
  onCheckpoint?: (checkpoint: TrainingCheckpoint) => void | Promise<void>;
  signal?: AbortSignal;
  resume?: TrainingCheckpoint;
}

/** Rejection of a cancelled run; carries the checkpoint of the last finished step. */
export class TrainingCancelled extends Error {
  constructor(readonly checkpoint: TrainingCheckpoint) {
    super(`training cancelled after step ${checkpoint.step}`);
    this.name = 'TrainingCancelled';
  }
}

/** What is trained: the graphs, the trainable tensors' starting values, and any other feeds. */
export interface TrainingProblem {
  graph: TrainingGraph;
  /** The same graph without gradients, for validation. */
  evalGraph: TrainingGraph;
  params: TensorSet;
  /** Feeds besides tokens and parameters (slots, gates, frozen pools) for `rows` × `tokens`. */
  extraFeeds: (rows: number, tokens: number) => Record<string, OrtTensor>;
}

export interface LoopResult {
  params: TensorSet;
  steps: number;
  lastLoss: number;
  validation: Evaluation | null;
  /** Validation before the first update (for LoRA: the base model, since B starts at zero). */
  initialValidation: Evaluation | null;
  tokens: number;
  seconds: number;
}

type Feeds = Record<string, OrtTensor>;

function tokenFeeds(rows: readonly PackedSequence[]): Feeds {
  const batch = rows.length;
  const length = rows[0]!.inputs.length;
  return {
    input_ids: int64Tensor(
      rows.flatMap((r) => r.inputs),
      [batch, length],
    ),
    position_ids: int64Tensor(
      rows.flatMap((r) => r.positions),
      [batch, length],
    ),
    segment_ids: int64Tensor(
      rows.flatMap((r) => r.segments),
      [batch, length],
    ),
    attention_mask: int64Tensor(new Array<number>(batch * length).fill(1), [batch, length]),
    target_ids: int64Tensor(
      rows.flatMap((r) => r.targets),
      [batch, length],
    ),
    loss_mask: float32Tensor(Float32Array.from(rows.flatMap((r) => r.lossMask)), [batch, length]),
  };
}

function parameterFeeds(graph: TrainingGraph, params: TensorSet): Feeds {
  return Object.fromEntries(graph.parameters.map((p) => [p.name, float32Tensor(params.get(p.name)!, p.shape)]));
}

function countedTokens(batch: readonly PackedSequence[]): number {
  return batch.reduce((sum, r) => sum + r.lossMask.reduce((a, b) => a + b, 0), 0);
}

/** Adds one run's `grad.<name>` outputs into the sums (the first run's are copied). */
function addGradients(sums: TensorSet, graph: TrainingGraph, out: Record<string, OrtTensor>): void {
  for (const p of graph.parameters) {
    const g = out[gradName(p.name)]!.data as Float32Array;
    const sum = sums.get(p.name);
    if (!sum) sums.set(p.name, Float32Array.from(g));
    else for (let i = 0; i < g.length; i++) sum[i]! += g[i]!;
  }
}

/** Mean loss and accuracy over rows, in batches, with the gradient-free graph. */
export async function evaluate(
  session: InferenceSession,
  problem: TrainingProblem,
  params: TensorSet,
  rows: readonly PackedSequence[],
  batchSize: number,
): Promise<Evaluation> {
  let lossSum = 0;
  let correct = 0;
  let tokens = 0;
  for (let start = 0; start < rows.length; start += batchSize) {
    const batch = rows.slice(start, start + batchSize);
    const out = await session.run({
      ...tokenFeeds(batch),
      ...parameterFeeds(problem.evalGraph, params),
      ...problem.extraFeeds(batch.length, batch[0]!.inputs.length),
    });
    lossSum += (out.loss_sum!.data as Float32Array)[0]!;
    correct += (out.correct!.data as Float32Array)[0]!;
    tokens += countedTokens(batch);
  }
  return { loss: tokens ? lossSum / tokens : NaN, accuracy: tokens ? correct / tokens : NaN, tokens };
}

/**
 * Gradients of the mean loss over the first `batches` micro-batches of `rows`, taken at the
 * problem's starting parameters and not applied: what placement probing reads. Summed exactly as
 * a training step sums them (Σ over micro-batches, divided by the counted tokens). `rows` holds
 * at least one row (the probe checks before it takes its session).
 */
export async function accumulatedGradients(
  session: InferenceSession,
  problem: TrainingProblem,
  rows: readonly PackedSequence[],
  settings: { batchSize: number; batches: number },
): Promise<{ gradients: TensorSet; tokens: number; passSeconds: number }> {
  const started = performance.now();
  const gradients: TensorSet = new Map();
  let counted = 0;
  const length = rows[0]!.inputs.length;
  for (let micro = 0; micro < settings.batches; micro++) {
    const batch = Array.from(
      { length: settings.batchSize },
      (_, i) => rows[(micro * settings.batchSize + i) % rows.length]!,
    );
    const out = await session.run({
      ...tokenFeeds(batch),
      ...parameterFeeds(problem.graph, problem.params),
      ...problem.extraFeeds(batch.length, length),
    });
    counted += countedTokens(batch);
    addGradients(gradients, problem.graph, out);
  }
  const scale = 1 / Math.max(counted, 1);
  for (const g of gradients.values()) for (let i = 0; i < g.length; i++) g[i]! *= scale;
  return { gradients, tokens: counted, passSeconds: (performance.now() - started) / 1000 };
}

/**
 * A session for a training graph. Over a weight file it reads the mapped base weights in place
 * (no packed copy): a fine-tune beside a serving session adds no second copy of the base.
 */
export function trainingSession(graph: TrainingGraph, options: SessionOptions): Promise<InferenceSession> {
  return createSession(
    graph.model,
    graph.weightsDir ? { ...options, externalDataDir: graph.weightsDir, shareWeights: true } : options,
  );
}

/**
 * The training loop every trainer shares. Rows are visited in a seeded shuffle per epoch;
 * micro-batch m holds rows m·B … m·B + B − 1 of that endless sequence, so the data position
 * is one number. Gradients of Σ loss are summed over the micro-batches of a step and divided
 * by the step's counted tokens (exact accumulation), clipped, and applied by AdamW.
 */
export async function runTrainingLoop(
  problem: TrainingProblem,
  data: { train: readonly PackedSequence[]; validation: readonly PackedSequence[] },
  settings: LoopSettings,
  callbacks: LoopCallbacks & SessionOptions,
): Promise<LoopResult> {
  if (data.train.length === 0) throw new Error('training data: no rows to train on (every record is empty?)');
  const session = await trainingSession(problem.graph, callbacks);
  const evalSession = data.validation.length ? await trainingSession(problem.evalGraph, callbacks) : null;
  const params: TensorSet = new Map([...problem.params].map(([name, v]) => [name, Float32Array.from(v)]));
  const adam = new AdamW({
    beta1: settings.adamBeta1,
    beta2: settings.adamBeta2,
    epsilon: settings.adamEpsilon,
    weightDecay: settings.weightDecay,
  });
  let step = 0;
  let microBatches = 0;
  if (callbacks.resume) {
    const r = callbacks.resume;
    if (r.seed !== settings.seed)
      throw new Error(`checkpoint was made with seed ${r.seed}, this run has seed ${settings.seed}`);
    for (const [name, value] of r.params) {
      if (!params.has(name)) throw new Error(`checkpoint has ${name}, which this run does not train`);
      params.set(name, Float32Array.from(value));
    }
    for (const [name, value] of r.adamM) adam.m.set(name, Float32Array.from(value));
    for (const [name, value] of r.adamV) adam.v.set(name, Float32Array.from(value));
    adam.step = r.step;
    step = r.step;
    microBatches = r.microBatches;
  }
  const checkpoint = (): TrainingCheckpoint => ({
    step,
    microBatches,
    seed: settings.seed,
    params: new Map([...params].map(([n, v]) => [n, Float32Array.from(v)])),
    adamM: new Map([...adam.m].map(([n, v]) => [n, Float32Array.from(v)])),
    adamV: new Map([...adam.v].map(([n, v]) => [n, Float32Array.from(v)])),
  });

  const rows = data.train;
  const orders = new Map<number, number[]>();
  const rowAt = (index: number) => {
    const epoch = Math.floor(index / rows.length);
    let order = orders.get(epoch);
    if (!order) {
      orders.clear();
      orders.set(epoch, (order = shuffledIndices(rows.length, seededRandom(settings.seed * 7919 + epoch + 1))));
    }
    return rows[order[index % rows.length]!]!;
  };

  const initialValidation =
    evalSession && step === 0
      ? await evaluate(evalSession, problem, params, data.validation, settings.batchSize)
      : null;
  let validation: Evaluation | null = null;
  let lastLoss = NaN;
  let tokens = 0;
  const started = performance.now();
  const length = rows[0]!.inputs.length;
  while (step < settings.totalSteps) {
    const grads: TensorSet = new Map();
    let lossSum = 0;
    let counted = 0;
    for (let micro = 0; micro < settings.gradientAccumulation; micro++) {
      if (callbacks.signal?.aborted) {
        const last = checkpoint();
        await callbacks.onCheckpoint?.(last);
        throw new TrainingCancelled(last);
      }
      const batch = Array.from({ length: settings.batchSize }, (_, i) =>
        rowAt((microBatches + micro) * settings.batchSize + i),
      );
      const out = await session.run({
        ...tokenFeeds(batch),
        ...parameterFeeds(problem.graph, params),
        ...problem.extraFeeds(batch.length, length),
      });
      lossSum += (out.loss_sum!.data as Float32Array)[0]!;
      counted += countedTokens(batch);
      addGradients(grads, problem.graph, out);
      tokens += batch.length * length;
    }
    microBatches += settings.gradientAccumulation;
    const scale = 1 / Math.max(counted, 1);
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i]! *= scale;
    const gradNorm = clipGradients(grads, settings.clipNorm);
    const learningRate = learningRateAt(step, {
      peak: settings.learningRate,
      warmupSteps: settings.warmupSteps,
      totalSteps: settings.totalSteps,
      minRatio: settings.minLearningRateRatio,
    });
    adam.update(params, grads, learningRate);
    step++;
    lastLoss = lossSum * scale;

    const due = step === settings.totalSteps || (settings.evalEvery > 0 && step % settings.evalEvery === 0);
    if (due && evalSession)
      validation = await evaluate(evalSession, problem, params, data.validation, settings.batchSize);
    callbacks.onProgress?.({
      step,
      totalSteps: settings.totalSteps,
      epoch: (microBatches * settings.batchSize) / rows.length,
      loss: lastLoss,
      learningRate,
      gradNorm,
      tokensPerSecond: tokens / ((performance.now() - started) / 1000),
      ...(due && validation ? { validation } : {}),
    });
    if (settings.checkpointEvery > 0 && step % settings.checkpointEvery === 0)
      await callbacks.onCheckpoint?.(checkpoint());
  }
  return {
    params,
    steps: step,
    lastLoss,
    validation,
    initialValidation,
    tokens,
    seconds: (performance.now() - started) / 1000,
  };
}
