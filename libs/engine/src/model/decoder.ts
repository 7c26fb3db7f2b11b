import { GraphBuilder, MICROSOFT_DOMAIN, type Tensor } from '../graph/graph-builder.js';
import {
  baseMatMul,
  loraProjection,
  type BaseWeight,
  type LoraPoolInputs,
  type LoraRouting,
} from '../graph/lora-projection.js';
import { transpose } from '../matrix.js';
import {
  attentionWindow,
  configProblems,
  ffnDim,
  hasBias,
  headDim,
  kvHeads,
  projectionKey,
  projectionShape,
  type DecoderConfig,
  type DecoderWeights,
  type LlamaConfig,
  type TargetModule,
} from './decoder-config.js';
import { rotaryInverseFrequencies } from './rotary-frequencies.js';
import { embeddingWeightName, HEAD_WEIGHT, projectionWeightName, WeightFile } from './weight-file.js';

/** A model's base weights: in memory (embedded in each graph) or a weight file (mapped by each session). */
export type BaseWeights = DecoderWeights | WeightFile;

export interface LoraGraphOptions {
  /** Projections that take a slot pool as graph inputs `lora.<projection key>.A|B`. */
  modules: readonly TargetModule[];
  /** Of those, only these projection keys (a per-layer placement); default every layer's. */
  projections?: ReadonlySet<string>;
  /** The pool's rank R: smaller adapters are zero-padded to it. */
  rank: number;
  /** Pools also take router vectors `lora.<key>.router` [S, dIn], and rows may route per token (DESIGN.md §5 `token`). */
  router?: boolean;
  /** A fixed pool size S (training graphs, whose parameters need whole shapes); default symbolic. */
  slots?: number;
  /**
   * Each pool also takes `lora.<key>.active` [] bool, and where it is false (no adapter of the
   * pass adapts that projection) the graph skips the projection's LoRA products (serving graphs:
   * training graphs are differentiated, and autodiff does not enter an If).
   */
  skipUntouched?: boolean;
}

export interface ForwardGraphOptions {
  lora?: LoraGraphOptions;
  /** Adds input target_ids [B, T] and output token_logprobs [B, T]: log p(target | prefix). */
  scoring?: boolean;
  /** MatMulNBits's accuracy level for a quantized weight file: 4 (default) is fast, 0 computes in fp32. */
  quantizedAccuracy?: 0 | 4;
}

/** Name of a pool input, shared by the graph and whoever feeds it. */
export function loraInputName(projection: string, part: 'A' | 'B' | 'router' | 'active'): string {
  return `lora.${projection}.${part}`;
}

/** Names of the cache tensors of one layer: `past` in, `new` (this pass's keys/values) out. */
export function cacheName(kind: 'past' | 'new', layer: number, part: 'key' | 'value'): string {
  return `${kind}.${layer}.${part}`;
}

/**
 * The forward graph of a decoder, one definition for prefill, chunked prefill, decode and
 * scoring, for both architectures. Inputs:
 *   input_ids [B, T], position_ids [B, T], attention_mask [B, P+T] (1 = attend, 0 = padding),
 *   past.<i>.key|value [KV, N, hd]: the key/value block pools (serving/kv-blocks.ts), fed as
 *   they are; kv_index [B, P]: the pool slot of each row's past column (P = 0 for a fresh
 *   prefill; columns the mask marks 0 are ignored, so rows of different lengths pad freely),
 *   logit_index [B, L]: the positions of this pass whose logits to return (the last one of
 *   each row while generating: the vocabulary projection of the others is never computed),
 * and with `lora` also `slots` [B, k], `gates` [B, T, k] and a pool per targeted projection,
 * so one pass serves rows on different adapters (DESIGN.md §5). Outputs logits [B, L, vocab],
 * new.<i>.key|value [B, KV, T, hd] (this pass's entries; the caller writes them into its
 * blocks, so the graph never copies the cache out) and pooled_hidden [B, d], the mean of the
 * final hidden states over this pass's unmasked new tokens (the router's view of an input).
 */
export function buildForwardGraph(
  config: DecoderConfig,
  weights: BaseWeights,
  options: ForwardGraphOptions = {},
): Uint8Array {
  checkBuildable(config);
  const g = new GraphBuilder(`${config.architecture}_forward`);
  const inputs = decoderInputs(g);
  const logitIndex = g.input('logit_index', 'int64', ['B', 'L']);
  const routing: LoraRouting | null = options.lora
    ? {
        slots: g.input('slots', 'int64', ['B', 'k']),
        gates: g.input('gates', 'float32', ['B', 'T', 'k']),
        ...(options.lora.router ? { router: perRowRouter(g) } : {}),
      }
    : null;
  const decoder = emitDecoder(
    g,
    config,
    new DecoderParameters(g, config, weights, new Set(), options.quantizedAccuracy),
    inputs,
    {
      lora: options.lora ?? null,
      routing,
      cache: true,
    },
  );
  g.output(decoder.logitsOf(atPositions(g, decoder.final, logitIndex, config.dModel), 'L'), 'logits');
  // The gates each token got, averaged over the adapted projections: the routing trace.
  if (routing?.router) {
    const total = decoder.gates.reduce((sum, gates) => g.op('Add', [sum, gates], { shape: ['B', 'T', 'k'] }));
    g.output(g.op('Div', [total, g.scalar(decoder.gates.length)], { shape: ['B', 'T', 'k'] }), 'mean_gates');
  }

  // Mean over this pass's unmasked new tokens: attention_mask[:, P:].
  const newMask = g.op(
    'Cast',
    [
      g.op('Slice', [inputs.attentionMask, decoder.pastTokens, decoder.allTokens, g.ints([1])], {
        dtype: 'int64',
        shape: ['B', 'T'],
      }),
    ],
    { shape: ['B', 'T'] },
    { to: 1 },
  );
  const maskColumn = g.op('Unsqueeze', [newMask, g.ints([2])], { shape: ['B', 'T', 1] });
  const d = config.dModel;
  const summed = g.op(
    'ReduceSum',
    [g.op('Mul', [decoder.final, maskColumn], { shape: ['B', 'T', d] }), g.ints([1])],
    { shape: ['B', d] },
    { keepdims: 0 },
  );
  const count = g.op(
    'Max',
    [g.op('ReduceSum', [maskColumn, g.ints([1])], { shape: ['B', 1] }, { keepdims: 0 }), g.scalar(1)],
    { shape: ['B', 1] },
  );
  g.output(g.op('Div', [summed, count], { shape: ['B', d] }), 'pooled_hidden');

  if (options.scoring) {
    const targets = g.input('target_ids', 'int64', ['B', 'T']);
    g.output(
      g.op('Squeeze', [pickLogProbs(g, decoder.logitsOf(decoder.final, 'T'), targets, config.vocabSize), g.ints([2])], {
        shape: ['B', 'T'],
      }),
      'token_logprobs',
    );
  }
  return g.serialize();
}

/** hidden [B, T, d] at positions [B, L] of each row: [B, L, d]. */
function atPositions(g: GraphBuilder, hidden: Tensor, positions: Tensor, d: number): Tensor {
  const shape = g.op(
    'Concat',
    [g.op('Shape', [positions], { dtype: 'int64', shape: [2] }), g.ints([d])],
    { dtype: 'int64', shape: [3] },
    { axis: 0 },
  );
  const index = g.op(
    'Expand',
    [g.op('Unsqueeze', [positions, g.ints([2])], { dtype: 'int64', shape: ['B', 'L', 1] }), shape],
    {
      dtype: 'int64',
      shape: ['B', 'L', d],
    },
  );
  return g.op('GatherElements', [hidden, index], { shape: ['B', 'L', d] }, { axis: 1 });
}

export function checkBuildable(config: DecoderConfig): void {
  const problems = configProblems(config);
  if (problems.length) throw new Error(`decoder config: ${problems.join('; ')}`);
  if ((config.dtype ?? 'float32') !== 'float32') {
    throw new Error(`decoder config: dtype ${config.dtype} graphs are not built yet; only float32 runs on this engine`);
  }
}

/** router_top_k [B] and router_abs [B] (float), reshaped to broadcast over tokens and slots. */
function perRowRouter(g: GraphBuilder): LoraRouting['router'] {
  const column = (name: string) =>
    g.op('Reshape', [g.input(name, 'float32', ['B']), g.ints([-1, 1, 1])], { shape: ['B', 1, 1] });
  return { kind: 'per-row', topK: column('router_top_k'), absolute: column('router_abs') };
}

/** log softmax(logits)[target] at every position: [B, T, 1]. */
export function pickLogProbs(g: GraphBuilder, logits: Tensor, targets: Tensor, vocab: number): Tensor {
  const logProbs = g.op('LogSoftmax', [logits], { shape: ['B', 'T', vocab] }, { axis: -1 });
  return g.op(
    'GatherElements',
    [logProbs, g.op('Unsqueeze', [targets, g.ints([2])], { dtype: 'int64', shape: ['B', 'T', 1] })],
    { shape: ['B', 'T', 1] },
    { axis: 2 },
  );
}

/** The token inputs every decoder graph takes. */
export interface DecoderInputs {
  ids: Tensor;
  positionIds: Tensor;
  attentionMask: Tensor;
  /** [B, T] int64, graphs without a cache only: a token sees only keys of its own segment (packed documents). */
  segmentIds?: Tensor;
}

export function decoderInputs(g: GraphBuilder): DecoderInputs {
  return {
    ids: g.input('input_ids', 'int64', ['B', 'T']),
    positionIds: g.input('position_ids', 'int64', ['B', 'T']),
    attentionMask: g.input('attention_mask', 'int64', ['B', 'PT']),
  };
}

/**
 * Where a graph's base weights come from: initializers (frozen, the usual case) or, for
 * names in `trainable`, graph inputs in their stored (Hugging Face) layout so a training
 * graph can return their gradients. Weights in memory are embedded in the graph; a weight
 * file is referenced as external data (`WeightFile`: no size cap, one mapped copy). Each
 * weight enters the graph once however often it is used.
 */
export class DecoderParameters {
  private readonly made = new Map<string, BaseWeight>();
  /** The trainable weights that became graph inputs, in the order first used. */
  readonly trainableInputs: Tensor[] = [];

  constructor(
    private readonly g: GraphBuilder,
    private readonly config: DecoderConfig,
    private readonly weights: BaseWeights,
    private readonly trainable: ReadonlySet<string> = new Set(),
    /** MatMulNBits's accuracy level for quantized weights (4: int8 activations, the fast CPU kernels). */
    private readonly accuracyLevel: 0 | 4 = 4,
  ) {
    if (weights instanceof WeightFile && trainable.size)
      throw new Error('a weight file is frozen: train base weights from memory');
  }

  /** A weight as stored: `shape` is its stored shape. */
  plain(name: string, shape: number[]): Tensor {
    return this.memo(name, () => {
      if (this.trainable.has(name)) return this.trainableInput(name, shape);
      return this.frozen(name, shape, () => this.stored(name));
    }) as Tensor;
  }

  /** Rows of a table [rows, width] by `ids` [B, T] → [B, T, width]; a quantized table (weight file) dequantizes the rows it reads. */
  lookup(name: string, shape: [number, number], ids: Tensor): Tensor {
    const [rows, width] = shape;
    const file = this.weights instanceof WeightFile ? this.weights : null;
    const stored = file?.stored(name);
    if (stored?.kind !== 'nbits')
      return this.g.op('Gather', [this.plain(name, shape), ids], { shape: ['B', 'T', width] }, { axis: 0 });
    if (stored.n !== rows || stored.k !== width || stored.bits !== 8)
      throw new Error(`weight file ${file!.dir}: ${name} is not an int8 table [${rows}, ${width}]`);
    const at = (extent: { offset: number; length: number }) => ({ file: WeightFile.DATA, ...extent });
    const blocks = width / stored.blockSize;
    // MatMulNBits's layout of a [width, rows] matrix is, at 8 bits, this table row by row.
    const data = this.g.externalInitializer(`${name}.q8`, 'uint8', shape, at(stored.data));
    const scales = this.g.externalInitializer(`${name}.scales`, 'float32', [rows, blocks], at(stored.scales));
    return this.g.op(
      'GatherBlockQuantized',
      [data, ids, scales],
      { dtype: 'float32', shape: ['B', 'T', width] },
      { bits: 8, block_size: stored.blockSize, gather_axis: 0, quantize_axis: 1 },
      MICROSOFT_DOMAIN,
    );
  }

  /**
   * A projection weight as [in, out]. GPT-2's Conv1D weights are stored that way; Llama's
   * Linear weights [out, in] are transposed: once at load when frozen (when the weight file is
   * written), in the graph when trained. A weight file may hold it quantized.
   */
  projection(name: string, dIn: number, dOut: number): BaseWeight {
    if (this.weights instanceof WeightFile)
      return this.memo(name, () => this.fromFile(projectionWeightName(name), [dIn, dOut]));
    if (this.config.architecture === 'gpt2') return this.plain(name, [dIn, dOut]);
    return this.memo(`${name}#in_out`, () => {
      if (!this.trainable.has(name))
        return this.g.initializer(name, transpose(this.stored(name), dOut, dIn), [dIn, dOut]);
      return this.g.op('Transpose', [this.trainableInput(name, [dOut, dIn])], { shape: [dIn, dOut] }, { perm: [1, 0] });
    });
  }

  /** The output projection [d, vocab]: lm_head's or the tied embedding's transpose. */
  head(table: () => Tensor): BaseWeight {
    if (this.weights instanceof WeightFile)
      return this.memo(HEAD_WEIGHT, () => this.fromFile(HEAD_WEIGHT, [this.config.dModel, this.config.vocabSize]));
    return this.memo(HEAD_WEIGHT, () =>
      this.g.op('Transpose', [table()], { shape: [this.config.dModel, this.config.vocabSize] }, { perm: [1, 0] }),
    );
  }

  /** A fixed table the graph needs (not a weight of the model), made once. */
  constant(name: string, shape: number[], make: () => Float32Array): Tensor {
    return this.memo(name, () => this.g.initializer(name, make(), shape)) as Tensor;
  }

  private frozen(name: string, shape: number[], values: () => Float32Array): Tensor {
    if (this.weights instanceof WeightFile) return this.fromFile(name, shape) as Tensor;
    return this.g.initializer(name, values(), shape);
  }

  /** A tensor of the weight file as external data; quantized matrices as MatMulNBits's two inputs. */
  private fromFile(name: string, shape: number[]): BaseWeight {
    const file = this.weights as WeightFile;
    const stored = file.stored(name);
    if (!stored) throw new Error(`weight file ${file.dir}: missing ${name}`);
    const at = (extent: { offset: number; length: number }) => ({ file: WeightFile.DATA, ...extent });
    if (stored.kind === 'float32') {
      if (stored.shape.join(',') !== shape.join(','))
        throw new Error(`weight file ${file.dir}: ${name} has shape [${stored.shape}], the graph needs [${shape}]`);
      return this.g.externalInitializer(name, 'float32', shape, at(stored));
    }
    if (stored.k !== shape[0] || stored.n !== shape[1])
      throw new Error(
        `weight file ${file.dir}: ${name} is ${stored.k}×${stored.n}, the graph needs ${shape.join('×')}`,
      );
    const blocks = stored.k / stored.blockSize;
    return {
      kind: 'nbits',
      data: this.g.externalInitializer(
        `${name}.q${stored.bits}`,
        'uint8',
        [stored.n, blocks, (stored.blockSize * stored.bits) / 8],
        at(stored.data),
      ),
      scales: this.g.externalInitializer(`${name}.scales`, 'float32', [stored.n * blocks], at(stored.scales)),
      bits: stored.bits,
      blockSize: stored.blockSize,
      accuracyLevel: this.accuracyLevel,
    };
  }

  private trainableInput(name: string, shape: number[]): Tensor {
    const input = this.g.input(name, 'float32', shape);
    this.trainableInputs.push(input);
    return input;
  }

  private stored(name: string): Float32Array {
    const data = (this.weights as DecoderWeights).get(name);
    if (!data) throw new Error(`missing weight ${name}`);
    return data;
  }

  private memo(key: string, make: () => BaseWeight): BaseWeight {
    const existing = this.made.get(key);
    if (existing) return existing;
    const made = make();
    this.made.set(key, made);
    return made;
  }
}

/**
 * A long-range adapter (an engine experiment: Nowak et al., 2024's extended placement space):
 * layer `from`'s input x adds scale · (x A) B to layer `to`'s output, from ≤ to.
 */
export interface LongRangePair {
  from: number;
  to: number;
}

export interface LongRangeOptions {
  pairs: readonly LongRangePair[];
  rank: number;
  /** α/r, as a LoRA's gate. */
  scale: number;
}

/** Name of a long-range adapter's factor input: A [d, R], B [R, d]. */
export function longRangeInputName(pair: LongRangePair, part: 'A' | 'B'): string {
  return `long.${pair.from}-${pair.to}.${part}`;
}

export interface EmitOptions {
  lora: LoraGraphOptions | null;
  routing: LoraRouting | null;
  /** Long-range adapters (training graphs of the experiment only). */
  longRange?: LongRangeOptions;
  /** Take past.<i>.key|value inputs and return new.<i>.key|value outputs (serving); training graphs see whole sequences. */
  cache: boolean;
}

export interface EmittedDecoder {
  /** The final normalized hidden states [B, T, d]. */
  final: Tensor;
  /** Logits [B, X, vocab] of hidden states [B, X, d] (X: the axis's name): the output projection. */
  logitsOf: (hidden: Tensor, length: string) => Tensor;
  /** The pool inputs `lora.<projection key>.A|B` this pass created, by projection key. */
  pools: Map<string, LoraPoolInputs>;
  /** The gates [B, T, k] each routed projection applied, in order. */
  gates: Tensor[];
  /** The long-range adapters' factor inputs, in the order of `longRange.pairs`. */
  longRange: { a: Tensor; b: Tensor }[];
  /** [1] int64: tokens in the cache (P) and in cache + this pass (P + T). */
  pastTokens: Tensor;
  allTokens: Tensor;
}

/** Emits the decoder's layers into `g`: the one definition every graph is made from. */
export function emitDecoder(
  g: GraphBuilder,
  config: DecoderConfig,
  params: DecoderParameters,
  inputs: DecoderInputs,
  options: EmitOptions,
): EmittedDecoder {
  const d = config.dModel;
  const hd = headDim(config);
  const { ids, positionIds, attentionMask } = inputs;
  const { routing } = options;
  const pools = new Map<string, LoraPoolInputs>();
  const gates: Tensor[] = [];

  // Additive attention bias [B, 1, T, P+T]: query i (absolute position P+i) sees key j when
  // j <= P+i and the key is not padding; -1e9 elsewhere (finite keeps fused kernels NaN-free).
  const scalarOf = (t: Tensor) => g.op('Squeeze', [t], { dtype: 'int64', shape: [] });
  const newTokens = g.op('Shape', [ids], { dtype: 'int64', shape: [1] }, { start: 1, end: 2 });
  const allTokens = g.op('Shape', [attentionMask], { dtype: 'int64', shape: [1] }, { start: 1, end: 2 });
  const pastTokens = g.op('Sub', [allTokens, newTokens], { dtype: 'int64', shape: [1] });
  const queryPositions = g.op(
    'Add',
    [
      g.op('Range', [scalarOf(g.ints([0])), scalarOf(newTokens), scalarOf(g.ints([1]))], {
        dtype: 'int64',
        shape: ['T'],
      }),
      pastTokens,
    ],
    {
      dtype: 'int64',
      shape: ['T'],
    },
  );
  const keyPositions = g.op('Range', [scalarOf(g.ints([0])), scalarOf(allTokens), scalarOf(g.ints([1]))], {
    dtype: 'int64',
    shape: ['PT'],
  });
  const causal = g.op(
    'LessOrEqual',
    [
      g.op('Unsqueeze', [keyPositions, g.ints([0])], { dtype: 'int64', shape: [1, 'PT'] }),
      g.op('Unsqueeze', [queryPositions, g.ints([1])], { dtype: 'int64', shape: ['T', 1] }),
    ],
    {
      dtype: 'bool',
      shape: ['T', 'PT'],
    },
  );
  const notPadding = g.op(
    'Cast',
    [g.op('Unsqueeze', [attentionMask, g.ints([1, 2])], { dtype: 'int64', shape: ['B', 1, 1, 'PT'] })],
    { dtype: 'bool', shape: ['B', 1, 1, 'PT'] },
    { to: 9 },
  );
  const visible = g.op('And', [causal, notPadding], { dtype: 'bool', shape: ['B', 1, 'T', 'PT'] });
  if (inputs.segmentIds && options.cache) throw new Error('segment ids mask whole sequences: a graph without a cache');
  const visibleInSegment = inputs.segmentIds
    ? g.op('And', [visible, sameSegment(g, inputs.segmentIds)], { dtype: 'bool', shape: ['B', 1, 'T', 'PT'] })
    : visible;
  const attentionBias = g.op('Where', [visibleInSegment, g.scalar(0), g.scalar(-1e9)], {
    shape: ['B', 1, 'T', 'PT'],
  });
  // Sliding-window layers (Mistral; Qwen2 from max_window_layers on) also hide keys too far back.
  const windowSize = config.architecture === 'llama' ? (config.slidingWindow?.size ?? null) : null;
  const windowedBias =
    windowSize === null
      ? null
      : g.op('Where', [withinWindow(g, attentionMask, pastTokens, windowSize), attentionBias, g.scalar(-1e9)], {
          shape: ['B', 1, 'T', 'PT'],
        });
  const biasOf = (layer: number) => (attentionWindow(config, layer) === null ? attentionBias : windowedBias!);

  const project = (input: Tensor, layer: number, module: TargetModule) => {
    const [dIn, dOut] = projectionShape(config, module);
    const key = projectionKey(config, layer, module);
    let pool: LoraPoolInputs | null = null;
    const lora = options.lora;
    if (lora && lora.modules.includes(module) && (!lora.projections || lora.projections.has(key))) {
      pool = {
        a: g.input(loraInputName(key, 'A'), 'float32', [lora.slots ?? 'S', dIn, lora.rank]),
        b: g.input(loraInputName(key, 'B'), 'float32', [lora.slots ?? 'S', lora.rank, dOut]),
        ...(lora.router ? { router: g.input(loraInputName(key, 'router'), 'float32', [lora.slots ?? 'S', dIn]) } : {}),
        ...(lora.skipUntouched ? { active: g.input(loraInputName(key, 'active'), 'bool', []) } : {}),
      };
      pools.set(key, pool);
    }
    const bias = hasBias(config, module) ? params.plain(`${key}.bias`, [dOut]) : null;
    return loraProjection(
      g,
      input,
      params.projection(`${key}.weight`, dIn, dOut),
      bias,
      pool,
      routing,
      dOut,
      (applied) => gates.push(applied),
    );
  };
  const norm = (input: Tensor, prefix: string) =>
    config.architecture === 'gpt2'
      ? g.op(
          'LayerNormalization',
          [input, params.plain(`${prefix}.weight`, [d]), params.plain(`${prefix}.bias`, [d])],
          { shape: [...input.shape] },
          { axis: -1, epsilon: config.normEps },
        )
      : rmsNorm(g, input, params.plain(`${prefix}.weight`, [d]), config.normEps);

  const kvIndex = options.cache ? g.input('kv_index', 'int64', ['B', 'P']) : null;
  /** The layer's cached keys or values, gathered from their pool, and this pass's, an output of the graph. */
  const withPast = (layer: number, part: 'key' | 'value', current: Tensor): CachedAndNew => {
    if (!kvIndex) return { past: null, current };
    const pool = g.input(cacheName('past', layer, part), 'float32', [kvHeads(config), 'N', hd]);
    g.output(current, cacheName('new', layer, part));
    return { past: g.op('Gather', [pool, kvIndex], { shape: [kvHeads(config), 'B', 'P', hd] }, { axis: 1 }), current };
  };
  /** [B, T, heads·hd] → [B, heads, T, hd] */
  const splitHeads = (t: Tensor, heads: number) =>
    g.op(
      'Transpose',
      [g.op('Reshape', [t, g.ints([0, 0, heads, hd])], { shape: ['B', 'T', heads, hd] })],
      { shape: ['B', heads, 'T', hd] },
      { perm: [0, 2, 1, 3] },
    );

  const embeddingName = embeddingWeightName(config);
  let x = params.lookup(embeddingName, [config.vocabSize, d], ids);
  let rope: Rotary | null = null;
  if (config.architecture === 'gpt2') {
    const wpe = params.plain('wpe.weight', [config.maxPositions, d]);
    x = g.op('Add', [x, g.op('Gather', [wpe, positionIds], { shape: ['B', 'T', d] }, { axis: 0 })], {
      shape: ['B', 'T', d],
    });
  } else {
    rope = rotaryTables(g, params, positionIds, config);
  }

  // None: no pairs (rank and scale then unread).
  const longRange = options.longRange ?? { pairs: [], rank: 0, scale: 0 };
  for (const { from, to } of longRange.pairs)
    if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to < config.nLayers))
      throw new Error(`long-range adapter ${from} → ${to}: needs 0 ≤ from ≤ to < ${config.nLayers}`);
  const longRangeFactors = longRange.pairs.map((pair) => ({
    a: g.input(longRangeInputName(pair, 'A'), 'float32', [d, longRange.rank]),
    b: g.input(longRangeInputName(pair, 'B'), 'float32', [longRange.rank, d]),
  }));
  /** Each layer's input, for the long-range adapters that start there. */
  const layerInputs: Tensor[] = [];

  for (let layer = 0; layer < config.nLayers; layer++) {
    layerInputs.push(x);
    let context: Tensor;
    if (config.architecture === 'gpt2') {
      const qkv = project(norm(x, `h.${layer}.ln_1`), layer, 'attn.c_attn'); // [B, T, 3d]
      const part = (index: number) =>
        splitHeads(
          g.op('Slice', [qkv, g.ints([index * d]), g.ints([(index + 1) * d]), g.ints([2])], { shape: ['B', 'T', d] }),
          config.nHeads,
        );
      context = attention(
        g,
        part(0),
        withPast(layer, 'key', part(1)),
        withPast(layer, 'value', part(2)),
        attentionBias,
        config,
      );
      x = g.op('Add', [x, project(context, layer, 'attn.c_proj')], { shape: ['B', 'T', d] });
      const hidden = g.op(
        'Gelu',
        [project(norm(x, `h.${layer}.ln_2`), layer, 'mlp.c_fc')],
        { shape: ['B', 'T', 4 * d] },
        { approximate: config.gelu === 'tanh' ? 'tanh' : 'none' },
      );
      x = g.op('Add', [x, project(hidden, layer, 'mlp.c_proj')], { shape: ['B', 'T', d] });
    } else {
      const h = norm(x, `layers.${layer}.input_layernorm`);
      const kv = kvHeads(config);
      const q = applyRotary(g, rope!, splitHeads(project(h, layer, 'self_attn.q_proj'), config.nHeads), hd);
      const k = applyRotary(g, rope!, splitHeads(project(h, layer, 'self_attn.k_proj'), kv), hd);
      const v = splitHeads(project(h, layer, 'self_attn.v_proj'), kv);
      context = attention(g, q, withPast(layer, 'key', k), withPast(layer, 'value', v), biasOf(layer), config);
      x = g.op('Add', [x, project(context, layer, 'self_attn.o_proj')], { shape: ['B', 'T', d] });
      const h2 = norm(x, `layers.${layer}.post_attention_layernorm`);
      const gate = project(h2, layer, 'mlp.gate_proj');
      const ffn = ffnDim(config);
      const swish = g.op('Mul', [gate, g.op('Sigmoid', [gate], { shape: ['B', 'T', ffn] })], {
        shape: ['B', 'T', ffn],
      });
      const hidden = g.op('Mul', [swish, project(h2, layer, 'mlp.up_proj')], { shape: ['B', 'T', ffn] });
      x = g.op('Add', [x, project(hidden, layer, 'mlp.down_proj')], { shape: ['B', 'T', d] });
    }
    longRange.pairs.forEach((pair, i) => {
      if (pair.to !== layer) return;
      const { a, b } = longRangeFactors[i]!;
      const down = g.op('MatMul', [layerInputs[pair.from]!, a], { shape: ['B', 'T', longRange.rank] });
      const up = g.op('MatMul', [down, b], { shape: ['B', 'T', d] });
      x = g.op('Add', [x, g.op('Mul', [up, g.scalar(longRange.scale)], { shape: ['B', 'T', d] })], {
        shape: ['B', 'T', d],
      });
    });
  }

  const final = config.architecture === 'gpt2' ? norm(x, 'ln_f') : norm(x, 'norm');
  // Output table [vocab, d]: the embedding when tied, else lm_head.
  const table = () =>
    config.architecture === 'llama' && !config.tieEmbeddings
      ? params.plain('lm_head.weight', [config.vocabSize, d])
      : params.plain(embeddingName, [config.vocabSize, d]);
  const logitsOf = (hidden: Tensor, length: string) =>
    baseMatMul(g, hidden, params.head(table), ['B', length, config.vocabSize]);
  return { final, logitsOf, pools, gates, longRange: longRangeFactors, pastTokens, allTokens };
}

/** A layer's keys or values: the cache, [KV, B, P, hd] as gathered from its pool (none in training graphs), and this pass's, [B, KV, T, hd]. */
interface CachedAndNew {
  past: Tensor | null;
  current: Tensor;
}

/**
 * Softmax attention with grouped-query heads: q [B, H, T, hd] over the cached and the new
 * keys and values. The H/KV query heads that share a key/value head are folded into the
 * query axis, [B, KV, (H/KV)·T, hd], so every product is a plain batched MatMul and the
 * cache is never concatenated or expanded per query head. Scores
 * against the cache and against the new keys are computed apart and joined (they are
 * small). bias: [B, 1, T, P+T]. Returns [B, T, H·hd].
 */
function attention(
  g: GraphBuilder,
  q: Tensor,
  k: CachedAndNew,
  v: CachedAndNew,
  bias: Tensor,
  config: DecoderConfig,
): Tensor {
  const heads = config.nHeads;
  const kv = kvHeads(config);
  const group = heads / kv;
  const hd = headDim(config);
  const queries = g.op('Reshape', [q, g.ints([0, kv, -1, hd])], { shape: ['B', kv, 'gT', hd] });
  const scoresAgainst = (keys: Tensor, length: string) =>
    g.op('MatMul', [queries, g.op('Transpose', [keys], { shape: ['B', kv, hd, length] }, { perm: [0, 1, 3, 2] })], {
      shape: ['B', kv, 'gT', length],
    });
  // The mask [B, 1, T, P+T] repeated for each query head of a group: [B, 1, (H/KV)·T, P+T].
  const groupBias =
    group === 1 ? bias : g.op('Tile', [bias, g.ints([1, 1, group, 1])], { shape: ['B', 1, 'gT', 'PT'] });
  const softmax = (scores: Tensor) => {
    const scaled = g.op('Mul', [scores, g.scalar(1 / Math.sqrt(hd))], { shape: ['B', kv, 'gT', 'PT'] });
    return g.op(
      'Softmax',
      [g.op('Add', [scaled, groupBias], { shape: ['B', kv, 'gT', 'PT'] })],
      { shape: ['B', kv, 'gT', 'PT'] },
      { axis: -1 },
    );
  };
  let summed: Tensor;
  if (!k.past || !v.past) {
    summed = g.op('MatMul', [softmax(scoresAgainst(k.current, 'T')), v.current], { shape: ['B', kv, 'gT', hd] });
  } else {
    // The cache comes as [KV, B, P, hd] (gathered from its pool): its products batch over
    // [KV, B], and the queries and scores move to that order instead (they are the small side).
    const swap = (t: Tensor, shape: (string | number)[]) => g.op('Transpose', [t], { shape }, { perm: [1, 0, 2, 3] });
    const scoresPast = swap(
      g.op(
        'MatMul',
        [
          swap(queries, [kv, 'B', 'gT', hd]),
          g.op('Transpose', [k.past], { shape: [kv, 'B', hd, 'P'] }, { perm: [0, 1, 3, 2] }),
        ],
        { shape: [kv, 'B', 'gT', 'P'] },
      ),
      ['B', kv, 'gT', 'P'],
    );
    const probs = softmax(
      g.op('Concat', [scoresPast, scoresAgainst(k.current, 'T')], { shape: ['B', kv, 'gT', 'PT'] }, { axis: -1 }),
    );
    // Split the probabilities where the cache ends: columns [0, P) and [P, P+T).
    const pastLength = g.op('Shape', [k.past], { dtype: 'int64', shape: [1] }, { start: 2, end: 3 });
    const probsPast = g.op('Slice', [probs, g.ints([0]), pastLength, g.ints([-1])], { shape: ['B', kv, 'gT', 'P'] });
    const probsNew = g.op('Slice', [probs, pastLength, g.ints([Number.MAX_SAFE_INTEGER]), g.ints([-1])], {
      shape: ['B', kv, 'gT', 'T'],
    });
    const fromPast = swap(
      g.op('MatMul', [swap(probsPast, [kv, 'B', 'gT', 'P']), v.past], { shape: [kv, 'B', 'gT', hd] }),
      ['B', kv, 'gT', hd],
    );
    summed = g.op('Add', [fromPast, g.op('MatMul', [probsNew, v.current], { shape: ['B', kv, 'gT', hd] })], {
      shape: ['B', kv, 'gT', hd],
    });
  }
  const context = g.op('Reshape', [summed, g.ints([0, heads, -1, hd])], { shape: ['B', heads, 'T', hd] });
  return g.op(
    'Reshape',
    [
      g.op('Transpose', [context], { shape: ['B', 'T', heads, hd] }, { perm: [0, 2, 1, 3] }),
      g.ints([0, 0, heads * hd]),
    ],
    { shape: ['B', 'T', heads * hd] },
  );
}

/** Whether query i and key j of a row share a segment: segments [B, T] → [B, 1, T, T] bool. */
function sameSegment(g: GraphBuilder, segments: Tensor): Tensor {
  return g.op(
    'Equal',
    [
      g.op('Unsqueeze', [segments, g.ints([1, 3])], { dtype: 'int64', shape: ['B', 1, 'T', 1] }),
      g.op('Unsqueeze', [segments, g.ints([1, 2])], { dtype: 'int64', shape: ['B', 1, 1, 'T'] }),
    ],
    { dtype: 'bool', shape: ['B', 1, 'T', 'T'] },
  );
}

/** x · 1/√(mean(x²) + ε) · w over the last axis (Llama's RMSNorm, computed in fp32). */
function rmsNorm(g: GraphBuilder, x: Tensor, w: Tensor, eps: number): Tensor {
  const shape = [...x.shape];
  const meanSquare = g.op(
    'ReduceMean',
    [g.op('Mul', [x, x], { shape }), g.ints([-1])],
    { shape: [...shape.slice(0, -1), 1] },
    { keepdims: 1 },
  );
  const inverse = g.op(
    'Reciprocal',
    [
      g.op('Sqrt', [g.op('Add', [meanSquare, g.scalar(eps)], { shape: [...meanSquare.shape] })], {
        shape: [...meanSquare.shape],
      }),
    ],
    { shape: [...meanSquare.shape] },
  );
  return g.op('Mul', [g.op('Mul', [x, inverse], { shape }), w], { shape });
}

/** cos and sin of every position's rotation angles, [B, 1, T, hd], shared by all layers. */
interface Rotary {
  cos: Tensor;
  sin: Tensor;
}

function rotaryTables(g: GraphBuilder, params: DecoderParameters, positionIds: Tensor, config: LlamaConfig): Rotary {
  const hd = headDim(config);
  const inverseFrequencies = params.constant('rope.inv_freq', [hd / 2], () => rotaryInverseFrequencies(config));
  const positions = g.op(
    'Unsqueeze',
    [g.op('Cast', [positionIds], { dtype: 'float32', shape: ['B', 'T'] }, { to: 1 }), g.ints([2])],
    { shape: ['B', 'T', 1] },
  );
  const angles = g.op('Mul', [positions, inverseFrequencies], { shape: ['B', 'T', hd / 2] });
  const both = g.op(
    'Unsqueeze',
    [g.op('Concat', [angles, angles], { shape: ['B', 'T', hd] }, { axis: -1 }), g.ints([1])],
    { shape: ['B', 1, 'T', hd] },
  );
  return { cos: g.op('Cos', [both], { shape: [...both.shape] }), sin: g.op('Sin', [both], { shape: [...both.shape] }) };
}

/** x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁] (Hugging Face's half-split pairing). */
function applyRotary(g: GraphBuilder, rope: Rotary, x: Tensor, hd: number): Tensor {
  const shape = [...x.shape];
  const half = (from: number, to: number) =>
    g.op('Slice', [x, g.ints([from]), g.ints([to]), g.ints([3])], { shape: [...shape.slice(0, 3), hd / 2] });
  const rotated = g.op(
    'Concat',
    [g.op('Neg', [half(hd / 2, hd)], { shape: [...shape.slice(0, 3), hd / 2] }), half(0, hd / 2)],
    { shape },
    { axis: -1 },
  );
  return g.op('Add', [g.op('Mul', [x, rope.cos], { shape }), g.op('Mul', [rotated, rope.sin], { shape })], { shape });
}

/**
 * Keys inside a sliding window of `size` tokens: [B, 1, T, P+T] bool. Positions are ranks, the
 * running count of a row's attended columns, so holes and spare capacity in the cache (and
 * padding) take no room in the window: a row sees what it would see alone, as transformers
 * computes for one sequence. Key j is inside when rank(j) > rank(query) − size, i.e. the
 * query and the `size` − 1 tokens before it (transformers' sliding_window_overlay).
 */
function withinWindow(g: GraphBuilder, attentionMask: Tensor, pastTokens: Tensor, size: number): Tensor {
  const ranks = g.op('CumSum', [attentionMask, g.op('Squeeze', [g.ints([1])], { dtype: 'int64', shape: [] })], {
    dtype: 'int64',
    shape: ['B', 'PT'],
  });
  // The new tokens' ranks: columns [P, P+T).
  const queryRanks = g.op('Slice', [ranks, pastTokens, g.ints([Number.MAX_SAFE_INTEGER]), g.ints([1])], {
    dtype: 'int64',
    shape: ['B', 'T'],
  });
  // rank(query) − size: the newest rank that is already out of the window.
  const lastHidden = g.op(
    'Sub',
    [g.op('Unsqueeze', [queryRanks, g.ints([1, 3])], { dtype: 'int64', shape: ['B', 1, 'T', 1] }), g.ints([size])],
    { dtype: 'int64', shape: ['B', 1, 'T', 1] },
  );
  return g.op(
    'Greater',
    [g.op('Unsqueeze', [ranks, g.ints([1, 2])], { dtype: 'int64', shape: ['B', 1, 1, 'PT'] }), lastHidden],
    { dtype: 'bool', shape: ['B', 1, 'T', 'PT'] },
  );
}
