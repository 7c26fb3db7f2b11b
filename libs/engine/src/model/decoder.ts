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

/**
 * The prefill graph of a GPT-2 style decoder: input_ids [B, T] → logits [B, T, vocab].
 * With `lora`, it also takes `slots` [B, k], `gates` [B, T, k] and a pool per targeted
 * projection, so one pass serves rows on different adapters (DESIGN.md §5).
 */
export function buildGpt2PrefillGraph(config: DecoderConfig, weights: DecoderWeights, lora?: LoraGraphOptions): Uint8Array {
  const g = new GraphBuilder('gpt2_prefill');
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
  const routing: LoraRouting | null = lora
    ? { slots: g.input('slots', 'int64', ['B', 'k']), gates: g.input('gates', 'float32', ['B', 'T', 'k']) }
    : null;

  // Embeddings: tokens + learned positions 0..T-1.
  const wte = weight('wte.weight', [config.vocabSize, d]);
  const wpe = weight('wpe.weight', [config.maxPositions, d]);
  const tokens = g.op('Shape', [ids], { dtype: 'int64', shape: [1] }, { start: 1, end: 2 }); // [1] = T
  const positions = g.op('Range', [g.ints([0]), tokens, g.ints([1])].map((t) => g.op('Squeeze', [t], { dtype: 'int64', shape: [] })), {
    dtype: 'int64',
    shape: ['T'],
  });
  let x = g.op('Add', [g.op('Gather', [wte, ids], { shape: ['B', 'T', d] }, { axis: 0 }), g.op('Gather', [wpe, positions], { shape: ['T', d] }, { axis: 0 })], {
    shape: ['B', 'T', d],
  });

  // Causal mask [T, T]: 0 on and below the diagonal, -1e9 above (a large finite value keeps fused kernels NaN-free).
  const maskTable = new Float32Array(config.maxPositions * config.maxPositions);
  for (let i = 0; i < config.maxPositions; i++) maskTable.fill(-1e9, i * config.maxPositions + i + 1, (i + 1) * config.maxPositions);
  const mask = g.op(
    'Slice',
    [g.initializer('causal_mask', maskTable, [config.maxPositions, config.maxPositions]), g.ints([0, 0]), g.op('Concat', [tokens, tokens], { dtype: 'int64', shape: [2] }, { axis: 0 }), g.ints([0, 1])],
    { shape: ['T', 'T'] },
  );

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
    const part = (index: number, perm: number[], shape: (string | number)[]) => {
      const slice = g.op('Slice', [qkv, g.ints([index * d]), g.ints([(index + 1) * d]), g.ints([2])], { shape: ['B', 'T', d] });
      const split = g.op('Reshape', [slice, g.ints([0, 0, heads, headDim])], { shape: ['B', 'T', heads, headDim] });
      return g.op('Transpose', [split], { shape }, { perm });
    };
    const q = part(0, [0, 2, 1, 3], ['B', heads, 'T', headDim]);
    const kT = part(1, [0, 2, 3, 1], ['B', heads, headDim, 'T']);
    const v = part(2, [0, 2, 1, 3], ['B', heads, 'T', headDim]);
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, kT], { shape: ['B', heads, 'T', 'T'] }), g.scalar(1 / Math.sqrt(headDim))], { shape: ['B', heads, 'T', 'T'] }), mask], {
      shape: ['B', heads, 'T', 'T'],
    });
    const probs = g.op('Softmax', [scores], { shape: ['B', heads, 'T', 'T'] }, { axis: -1 });
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
