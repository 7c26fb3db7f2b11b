import { addGradients } from '../graph/autodiff.js';
import { GraphBuilder, type Tensor } from '../graph/graph-builder.js';
import type { LoraRouting } from '../graph/lora-projection.js';
import { weightShapes, type DecoderConfig, type TargetModule } from '../model/decoder-config.js';
import {
  checkBuildable,
  decoderInputs,
  DecoderParameters,
  emitDecoder,
  pickLogProbs,
  type BaseWeights,
  type LongRangeOptions,
} from '../model/decoder.js';
import { WeightFile } from '../model/weight-file.js';

/** What a training graph differentiates. */
export type TrainableSet =
  /** Every base weight (training the demo base model from scratch). */
  | { kind: 'all' }
  /**
   * One LoRA adapter: pools `lora.<key>.A` [1, dIn, R] and `.B` [1, R, dOut], fed with slot 0 and
   * gate α/r. With `onlyB` the A pools stay plain inputs, not differentiated: the placement probe
   * reads B's gradient alone and skips the backward pass's products for A.
   */
  | { kind: 'lora'; modules: readonly TargetModule[]; rank: number; projections?: readonly string[]; onlyB?: boolean }
  /**
   * A learned gate over K frozen adapters (X-LoRA style, decided per layer): in every
   * adapted projection, each token's gates are softmax(x·Rᵀ) over the K adapters, x being
   * that projection's input. One pass, so serving keeps its KV cache and batching as is.
   * Trainable: the router vectors `lora.<key>.router` [K, dIn]; pools hold the K adapters
   * in slots 0..K−1 (input slots [B, K]).
   */
  | { kind: 'gate'; modules: readonly TargetModule[]; rank: number; adapters: number }
  /** Long-range adapters `long.<from>-<to>.A|B` (an engine experiment; see LongRangePair). */
  | ({ kind: 'long-range' } & LongRangeOptions);

export interface TrainingGraph {
  model: Uint8Array;
  /** The weight file the graph maps its frozen base weights from (external data), if any. */
  weightsDir: string | null;
  /** The trainable tensors, in the order of their `grad.<name>` outputs. */
  parameters: { name: string; shape: number[] }[];
}

export function gradName(parameter: string): string {
  return `grad.${parameter}`;
}

/**
 * A training-step graph from the same decoder definition as serving. Inputs: input_ids,
 * position_ids, attention_mask [B, T] (all three as in the forward graph, without a cache),
 * segment_ids [B, T] (a token attends only to tokens of its own segment: the documents of a
 * packed row; all equal to pack across documents), target_ids [B, T],
 * loss_mask [B, T] float (1 where the token counts), plus the inputs of
 * the trainable set. Outputs: loss_sum (Σ −log p(target) over counted tokens: the trainer
 * divides by the tokens of the whole accumulated batch), correct (counted tokens whose
 * argmax is the target) and, unless `gradients` is false, grad.<name> for each parameter.
 */
export function buildTrainingGraph(
  config: DecoderConfig,
  weights: BaseWeights,
  trainable: TrainableSet,
  options: { gradients?: boolean } = {},
): TrainingGraph {
  checkBuildable(config);
  const g = new GraphBuilder(`${config.architecture}_train_${trainable.kind}`);
  const inputs = { ...decoderInputs(g), segmentIds: g.input('segment_ids', 'int64', ['B', 'T']) };
  const targets = g.input('target_ids', 'int64', ['B', 'T']);
  const lossMask = g.input('loss_mask', 'float32', ['B', 'T']);
  const trainableWeights = trainable.kind === 'all' ? new Set(weightShapes(config).keys()) : new Set<string>();
  const params = new DecoderParameters(g, config, weights, trainableWeights);

  let logits: Tensor;
  let parameters: Tensor[];
  if (trainable.kind === 'all') {
    const decoder = emitDecoder(g, config, params, inputs, { lora: null, routing: null, cache: false });
    logits = decoder.logitsOf(decoder.final, 'T');
    parameters = params.trainableInputs;
  } else if (trainable.kind === 'lora') {
    const routing: LoraRouting = {
      slots: g.input('slots', 'int64', ['B', 1]),
      gates: g.input('gates', 'float32', ['B', 'T', 1]),
    };
    const decoder = emitDecoder(g, config, params, inputs, {
      lora: {
        modules: trainable.modules,
        rank: trainable.rank,
        ...(trainable.projections ? { projections: new Set(trainable.projections) } : {}),
      },
      routing,
      cache: false,
    });
    logits = decoder.logitsOf(decoder.final, 'T');
    parameters = [...decoder.pools.values()].flatMap((pool) => (trainable.onlyB ? [pool.b] : [pool.a, pool.b]));
  } else if (trainable.kind === 'long-range') {
    const { pairs, rank, scale } = trainable;
    const decoder = emitDecoder(g, config, params, inputs, {
      lora: null,
      routing: null,
      cache: false,
      longRange: { pairs, rank, scale },
    });
    logits = decoder.logitsOf(decoder.final, 'T');
    parameters = decoder.longRange.flatMap(({ a, b }) => [a, b]);
  } else {
    const k = trainable.adapters;
    const routing: LoraRouting = {
      slots: g.input('slots', 'int64', ['B', k]),
      gates: g.input('gates', 'float32', ['B', 'T', k]),
      router: { kind: 'learned' },
    };
    const decoder = emitDecoder(g, config, params, inputs, {
      lora: { modules: trainable.modules, rank: trainable.rank, router: true, slots: k },
      routing,
      cache: false,
    });
    logits = decoder.logitsOf(decoder.final, 'T');
    parameters = [...decoder.pools.values()].map((pool) => pool.router!);
  }

  const picked = g.op('Squeeze', [pickLogProbs(g, logits, targets, config.vocabSize), g.ints([2])], {
    shape: ['B', 'T'],
  });
  const counted = g.op('Mul', [picked, lossMask], { shape: ['B', 'T'] });
  const lossSum = g.op('Neg', [g.op('ReduceSum', [counted, g.ints([0, 1])], { shape: [] }, { keepdims: 0 })], {
    shape: [],
  });
  g.output(lossSum, 'loss_sum');
  const predicted = g.op('ArgMax', [logits], { dtype: 'int64', shape: ['B', 'T'] }, { axis: -1, keepdims: 0 });
  const hit = g.op(
    'Cast',
    [g.op('Equal', [predicted, targets], { dtype: 'bool', shape: ['B', 'T'] })],
    { dtype: 'float32', shape: ['B', 'T'] },
    { to: 1 },
  );
  g.output(
    g.op(
      'ReduceSum',
      [g.op('Mul', [hit, lossMask], { shape: ['B', 'T'] }), g.ints([0, 1])],
      { shape: [] },
      { keepdims: 0 },
    ),
    'correct',
  );

  if (options.gradients ?? true) {
    addGradients(g, lossSum, parameters).forEach((grad, i) => g.output(grad, gradName(parameters[i]!.name)));
  }
  return {
    model: g.serialize(),
    weightsDir: weights instanceof WeightFile ? weights.dir : null,
    parameters: parameters.map((p) => ({
      name: p.name,
      shape: p.shape.map((dim) => (typeof dim === 'number' ? dim : 1)),
    })),
  };
}
