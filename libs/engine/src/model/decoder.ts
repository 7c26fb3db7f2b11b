import { GraphBuilder, type Tensor } from '../graph/graph-builder.js';
import { loraProjection, type LoraRouting } from '../graph/lora-projection.js';
import { projectionShape, type DecoderConfig, type DecoderWeights, type Gpt2TargetModule } from './decoder-config.js';

export interface LoraGraphOptions {
  /** Projections that take a slot pool as graph inputs `lora.h.<i>.<module>.A|B`. */
  modules: readonly Gpt2TargetModule[];
  /** The pool's rank R: smaller adapters are zero-padded to it. */
  rank: number;
}

/** Name of a pool input, shared by the graph and whoever feeds it. */
export function loraInputName(layer: number, module: Gpt2TargetModule, part: 'A' | 'B'): string {
  return `lora.h.${layer}.${module}.${part}`;
}

/** Names of the cache tensors of one layer, in and out. */
export function cacheName(kind: 'past' | 'present', layer: number, part: 'key' | 'value'): string {
  return `${kind}.${layer}.${part}`;
}

/**
 * The forward graph of a GPT-2 style decoder, one definition for prefill, chunked prefill,
 * decode and scoring. Inputs:
 *   input_ids [B, T], position_ids [B, T], attention_mask [B, P+T] (1 = attend, 0 = padding),
 *   past.<i>.key|value [B, H, P, hd] (P = 0 for a fresh prefill),
 * and with `lora` also `slots` [B, k], `gates` [B, T, k] and a pool per targeted projection,
 * so one pass serves rows on different adapters (DESIGN.md §5). Outputs logits [B, T, vocab]
 * and present.<i>.key|value [B, H, P+T, hd].
 */
export function buildGpt2ForwardGraph(config: DecoderConfig, weights: DecoderWeights, lora?: LoraGraphOptions): Uint8Array {
  const g = new GraphBuilder('gpt2_forward');
  const d = config.dModel;
  const heads = config.nHeads;
  const headDim = d / heads;
  if (!Number.isInteger(headDim)) throw new Error(`dModel ${d} is not divisible by nHeads ${heads}`);
  const weight = (name: string, shape: number[]) => {
    const data = weights.get(name);
    if (!data) throw new Error(`missing weight ${name}`);
    return g.initializer(name, data, shape);
  };

  const ids = g.input('input_ids', 'int64', ['B', 'T']);
  const positionIds = g.input('position_ids', 'int64', ['B', 'T']);
  const attentionMask = g.input('attention_mask', 'int64', ['B', 'PT']);
  const routing: LoraRouting | null = lora
    ? { slots: g.input('slots', 'int64', ['B', 'k']), gates: g.input('gates', 'float32', ['B', 'T', 'k']) }
    : null;

  const wte = weight('wte.weight', [config.vocabSize, d]);
  const wpe = weight('wpe.weight', [config.maxPositions, d]);
  let x = g.op('Add', [g.op('Gather', [wte, ids], { shape: ['B', 'T', d] }, { axis: 0 }), g.op('Gather', [wpe, positionIds], { shape: ['B', 'T', d] }, { axis: 0 })], {
    shape: ['B', 'T', d],
  });

  // Additive attention bias [B, 1, T, P+T]: query i (absolute position P+i) sees key j when
  // j <= P+i and the key is not padding; -1e9 elsewhere (finite keeps fused kernels NaN-free).
  const scalarOf = (t: Tensor) => g.op('Squeeze', [t], { dtype: 'int64', shape: [] });
  const newTokens = g.op('Shape', [ids], { dtype: 'int64', shape: [1] }, { start: 1, end: 2 });
  const allTokens = g.op('Shape', [attentionMask], { dtype: 'int64', shape: [1] }, { start: 1, end: 2 });
  const pastTokens = g.op('Sub', [allTokens, newTokens], { dtype: 'int64', shape: [1] });
  const queryPositions = g.op('Add', [g.op('Range', [scalarOf(g.ints([0])), scalarOf(newTokens), scalarOf(g.ints([1]))], { dtype: 'int64', shape: ['T'] }), pastTokens], {
    dtype: 'int64',
    shape: ['T'],
  });
  const keyPositions = g.op('Range', [scalarOf(g.ints([0])), scalarOf(allTokens), scalarOf(g.ints([1]))], { dtype: 'int64', shape: ['PT'] });
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [keyPositions, g.ints([0])], { dtype: 'int64', shape: [1, 'PT'] }), g.op('Unsqueeze', [queryPositions, g.ints([1])], { dtype: 'int64', shape: ['T', 1] })], {
    dtype: 'bool',
    shape: ['T', 'PT'],
  });
  const notPadding = g.op('Cast', [g.op('Unsqueeze', [attentionMask, g.ints([1, 2])], { dtype: 'int64', shape: ['B', 1, 1, 'PT'] })], { dtype: 'bool', shape: ['B', 1, 1, 'PT'] }, { to: 9 });
  const visible = g.op('And', [causal, notPadding], { dtype: 'bool', shape: ['B', 1, 'T', 'PT'] });
  const attentionBias = g.op('Where', [visible, g.scalar(0), g.scalar(-1e9)], { shape: ['B', 1, 'T', 'PT'] });

  const project = (input: Tensor, layer: number, module: Gpt2TargetModule) => {
    const [dIn, dOut] = projectionShape(config, module);
    const pool =
      lora && lora.modules.includes(module)
        ? {
            a: g.input(loraInputName(layer, module, 'A'), 'float32', ['S', dIn, lora.rank]),
            b: g.input(loraInputName(layer, module, 'B'), 'float32', ['S', lora.rank, dOut]),
          }
        : null;
    return loraProjection(g, input, weight(`h.${layer}.${module}.weight`, [dIn, dOut]), weight(`h.${layer}.${module}.bias`, [dOut]), pool, routing, dOut);
  };
  const layerNorm = (input: Tensor, prefix: string) =>
    g.op('LayerNormalization', [input, weight(`${prefix}.weight`, [d]), weight(`${prefix}.bias`, [d])], { shape: [...input.shape] }, { axis: -1, epsilon: config.layerNormEps });

  for (let layer = 0; layer < config.nLayers; layer++) {
    const qkv = project(layerNorm(x, `h.${layer}.ln_1`), layer, 'attn.c_attn'); // [B, T, 3d]
    const headsOf = (index: number) => {
      const slice = g.op('Slice', [qkv, g.ints([index * d]), g.ints([(index + 1) * d]), g.ints([2])], { shape: ['B', 'T', d] });
      const split = g.op('Reshape', [slice, g.ints([0, 0, heads, headDim])], { shape: ['B', 'T', heads, headDim] });
      return g.op('Transpose', [split], { shape: ['B', heads, 'T', headDim] }, { perm: [0, 2, 1, 3] });
    };
    const withPast = (part: 'key' | 'value', current: Tensor) => {
      const past = g.input(cacheName('past', layer, part), 'float32', ['B', heads, 'P', headDim]);
      const present = g.op('Concat', [past, current], { shape: ['B', heads, 'PT', headDim], name: cacheName('present', layer, part) }, { axis: 2 });
      g.output(present);
      return present;
    };
    const q = headsOf(0);
    const k = withPast('key', headsOf(1)); // [B, H, P+T, hd]
    const v = withPast('value', headsOf(2));
    const kT = g.op('Transpose', [k], { shape: ['B', heads, headDim, 'PT'] }, { perm: [0, 1, 3, 2] });
    const scaled = g.op('Mul', [g.op('MatMul', [q, kT], { shape: ['B', heads, 'T', 'PT'] }), g.scalar(1 / Math.sqrt(headDim))], { shape: ['B', heads, 'T', 'PT'] });
    const probs = g.op('Softmax', [g.op('Add', [scaled, attentionBias], { shape: ['B', heads, 'T', 'PT'] })], { shape: ['B', heads, 'T', 'PT'] }, { axis: -1 });
    const context = g.op('MatMul', [probs, v], { shape: ['B', heads, 'T', headDim] });
    const merged = g.op('Reshape', [g.op('Transpose', [context], { shape: ['B', 'T', heads, headDim] }, { perm: [0, 2, 1, 3] }), g.ints([0, 0, d])], {
      shape: ['B', 'T', d],
    });
    x = g.op('Add', [x, project(merged, layer, 'attn.c_proj')], { shape: ['B', 'T', d] });
    const hidden = g.op('Gelu', [project(layerNorm(x, `h.${layer}.ln_2`), layer, 'mlp.c_fc')], { shape: ['B', 'T', 4 * d] });
    x = g.op('Add', [x, project(hidden, layer, 'mlp.c_proj')], { shape: ['B', 'T', d] });
  }

  const final = layerNorm(x, 'ln_f');
  // Tied embeddings; the transpose of an initializer is folded once when the session loads.
  const logits = g.op('MatMul', [final, g.op('Transpose', [wte], { shape: [d, config.vocabSize] }, { perm: [1, 0] })], {
    shape: ['B', 'T', config.vocabSize],
  });
  g.output(logits, 'logits');
  return g.serialize();
}
