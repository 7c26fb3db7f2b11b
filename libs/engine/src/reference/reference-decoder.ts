import {
  attentionWindow,
  hasBias,
  headDim,
  kvHeads,
  projectionKey,
  projectionShape,
  type DecoderConfig,
  type DecoderWeights,
  type TargetModule,
} from '../model/decoder-config.js';
import { rotaryInverseFrequencies } from '../model/rotary-frequencies.js';
import { transpose } from '../matrix.js';
import { loraDelta, routedGates, type LoraPool, type ReferenceTokenRouting } from './reference-lora.js';
import { add, addBias, gelu, layerNorm, matmul, mul, rmsNorm, rotate, silu, softmax } from './reference-ops.js';

export interface ReferenceLora {
  /** Pools by projection key (`h.<layer>.<module>`, `layers.<layer>.<module>`). */
  pools: Map<string, LoraPool>;
  slots: number[][];
  /** [B, T, k] */
  gates: Float32Array;
  /** Per-token routing in every projection that has router vectors. */
  router?: ReferenceTokenRouting;
}

/** Long-range adapters: after layer `to`, x += scale · (x_from A) B, x_from being layer `from`'s input. */
export interface ReferenceLongRange {
  pairs: { from: number; to: number; a: Float32Array; b: Float32Array }[];
  rank: number;
  scale: number;
}

export interface ReferenceOutput {
  /** [B, T, vocab] */
  logits: Float32Array;
  /** [B, T, d]: the final hidden states (after the final norm). */
  hidden: Float32Array;
  /** [B, T, k]: the gates averaged over the routed projections, with `router`. */
  meanGates?: Float32Array;
}

/** Packed rows: each token's position and segment [B][T]; a token attends only within its segment. */
export interface ReferencePacking {
  positions: number[][];
  segments: number[][];
}

/**
 * The decoder's forward pass in plain TypeScript, both architectures: token ids [B, T]
 * (positions 0..T-1, nothing masked, unless `packing` says otherwise) → logits and final
 * hidden states. Mirrors model/decoder.ts op for op; the graphs are checked against it.
 */
export function referenceForward(
  config: DecoderConfig,
  weights: DecoderWeights,
  ids: number[][],
  lora?: ReferenceLora,
  packing?: ReferencePacking,
  longRange?: ReferenceLongRange,
): ReferenceOutput {
  const d = config.dModel;
  const batch = ids.length;
  const tokens = ids[0]!.length;
  const positionOf = (b: number, t: number) => packing?.positions[b]![t] ?? t;
  const rows = batch * tokens;
  const w = (name: string) => {
    const value = weights.get(name);
    if (!value) throw new Error(`missing weight ${name}`);
    return value;
  };

  const embedding = w(config.architecture === 'gpt2' ? 'wte.weight' : 'embed_tokens.weight');
  let x: Float32Array = new Float32Array(rows * d);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens; t++) {
      const id = ids[b]![t]!;
      for (let j = 0; j < d; j++)
        x[(b * tokens + t) * d + j] =
          embedding[id * d + j]! + (config.architecture === 'gpt2' ? w('wpe.weight')[positionOf(b, t) * d + j]! : 0);
    }
  }

  const project = (input: Float32Array, layer: number, module: TargetModule) => {
    const [dIn, dOut] = projectionShape(config, module);
    const key = projectionKey(config, layer, module);
    const product =
      config.architecture === 'gpt2'
        ? matmul(input, w(`${key}.weight`), rows, dIn, dOut)
        : matmul(input, transpose(w(`${key}.weight`), dOut, dIn), rows, dIn, dOut);
    const y = hasBias(config, module) ? addBias(product, w(`${key}.bias`)) : product;
    const pool = lora?.pools.get(key);
    if (!lora || !pool) return y;
    const vectors = lora.router?.vectors.get(key);
    const gates = vectors
      ? routedGates(input, vectors, lora.slots, lora.gates, lora.router!, batch, tokens, dIn)
      : lora.gates;
    if (vectors) applied.push(gates);
    return add(y, loraDelta(input, pool, lora.slots, gates, batch, tokens));
  };
  const applied: Float32Array[] = [];

  const layerInputs: Float32Array[] = [];
  for (let layer = 0; layer < config.nLayers; layer++) {
    layerInputs.push(x);
    if (config.architecture === 'gpt2') {
      const h1 = layerNorm(x, w(`h.${layer}.ln_1.weight`), w(`h.${layer}.ln_1.bias`), config.normEps);
      const qkv = project(h1, layer, 'attn.c_attn');
      const part = (index: number) => columns(qkv, rows, 3 * d, index * d, d);
      const context = causalAttention(config, part(0), part(1), part(2), batch, tokens, packing?.segments);
      x = add(x, project(context, layer, 'attn.c_proj'));
      const h2 = layerNorm(x, w(`h.${layer}.ln_2.weight`), w(`h.${layer}.ln_2.bias`), config.normEps);
      x = add(x, project(gelu(project(h2, layer, 'mlp.c_fc'), config.gelu ?? 'exact'), layer, 'mlp.c_proj'));
    } else {
      const h1 = rmsNorm(x, w(`layers.${layer}.input_layernorm.weight`), config.normEps);
      const q = project(h1, layer, 'self_attn.q_proj');
      const k = project(h1, layer, 'self_attn.k_proj');
      const v = project(h1, layer, 'self_attn.v_proj');
      applyRotary(config, q, config.nHeads, batch, tokens, positionOf);
      applyRotary(config, k, kvHeads(config), batch, tokens, positionOf);
      const window = attentionWindow(config, layer);
      const context = causalAttention(config, q, k, v, batch, tokens, packing?.segments, window);
      x = add(x, project(context, layer, 'self_attn.o_proj'));
      const h2 = rmsNorm(x, w(`layers.${layer}.post_attention_layernorm.weight`), config.normEps);
      const hidden = mul(silu(project(h2, layer, 'mlp.gate_proj')), project(h2, layer, 'mlp.up_proj'));
      x = add(x, project(hidden, layer, 'mlp.down_proj'));
    }
    for (const { from, to, a, b } of longRange?.pairs ?? []) {
      if (to !== layer) continue;
      const delta = matmul(matmul(layerInputs[from]!, a, rows, d, longRange!.rank), b, rows, longRange!.rank, d);
      x = add(
        x,
        delta.map((v) => v * longRange!.scale),
      );
    }
  }
  const hidden =
    config.architecture === 'gpt2'
      ? layerNorm(x, w('ln_f.weight'), w('ln_f.bias'), config.normEps)
      : rmsNorm(x, w('norm.weight'), config.normEps);
  // lm_head when untied; a tied model's own head only where it was quantized apart from its embedding.
  const table =
    config.architecture === 'llama' && !config.tieEmbeddings
      ? w('lm_head.weight')
      : (weights.get('lm_head.weight') ?? embedding);
  // logits = h · tableᵀ
  const logits = new Float32Array(rows * config.vocabSize);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < config.vocabSize; v++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += hidden[r * d + j]! * table[v * d + j]!;
      logits[r * config.vocabSize + v] = dot;
    }
  }
  if (!applied.length) return { logits, hidden };
  const meanGates = new Float32Array(applied[0]!.length);
  for (const gates of applied) for (let i = 0; i < gates.length; i++) meanGates[i]! += gates[i]! / applied.length;
  return { logits, hidden, meanGates };
}

/** Mean of each row's final hidden states: [B, T, d] → [B, d]. */
export function referencePooled(hidden: Float32Array, batch: number, tokens: number, d: number): Float32Array {
  const out = new Float32Array(batch * d);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < tokens; t++)
      for (let j = 0; j < d; j++) out[b * d + j]! += hidden[(b * tokens + t) * d + j]! / tokens;
  return out;
}

/** log softmax(logits[b, t])[targets[b][t]]: [B, T]. */
export function referenceTokenLogprobs(logits: Float32Array, targets: number[][], vocab: number): Float32Array {
  const tokens = targets[0]!.length;
  const out = new Float32Array(targets.length * tokens);
  targets.forEach((row, b) =>
    row.forEach((target, t) => {
      const at = (b * tokens + t) * vocab;
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) max = Math.max(max, logits[at + v]!);
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(logits[at + v]! - max);
      out[b * tokens + t] = logits[at + target]! - max - Math.log(sum);
    }),
  );
  return out;
}

/** [rows, width] → the `count` columns from `start`: [rows, count]. */
function columns(m: Float32Array, rows: number, width: number, start: number, count: number): Float32Array {
  const out = new Float32Array(rows * count);
  for (let r = 0; r < rows; r++) out.set(m.subarray(r * width + start, r * width + start + count), r * count);
  return out;
}

/** Rotates every head of x: [B, T, heads·hd] at each token's position, in place. */
function applyRotary(
  config: DecoderConfig,
  x: Float32Array,
  heads: number,
  batch: number,
  tokens: number,
  positionOf: (b: number, t: number) => number,
): void {
  if (config.architecture !== 'llama') return;
  const hd = headDim(config);
  const frequencies = rotaryInverseFrequencies(config);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < tokens; t++)
      for (let h = 0; h < heads; h++) rotate(x, ((b * tokens + t) * heads + h) * hd, hd, positionOf(b, t), frequencies);
}

/**
 * Causal softmax attention: q [B, T, H·hd], k and v [B, T, KV·hd] → [B, T, H·hd]; query
 * head h reads key/value head ⌊h / (H/KV)⌋ (grouped-query attention; KV = H for GPT-2).
 * With `segments` [B][T], a query reads only keys of its own segment; with a `window`, only
 * keys fewer than `window` tokens back (transformers' sliding window: i − window < t ≤ i).
 */
function causalAttention(
  config: DecoderConfig,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  batch: number,
  tokens: number,
  segments?: number[][],
  window: number | null = null,
): Float32Array {
  const heads = config.nHeads;
  const kv = kvHeads(config);
  const hd = headDim(config);
  const group = heads / kv;
  const out = new Float32Array(batch * tokens * heads * hd);
  const scale = 1 / Math.sqrt(hd);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kvHead = Math.floor(h / group);
      const qAt = (t: number, j: number) => q[((b * tokens + t) * heads + h) * hd + j]!;
      const kAt = (t: number, j: number) => k[((b * tokens + t) * kv + kvHead) * hd + j]!;
      const vAt = (t: number, j: number) => v[((b * tokens + t) * kv + kvHead) * hd + j]!;
      const scores = new Float32Array(tokens * tokens);
      for (let i = 0; i < tokens; i++) {
        for (let t = 0; t < tokens; t++) {
          const outOfWindow = window !== null && i - t >= window;
          if (t > i || outOfWindow || (segments && segments[b]![t] !== segments[b]![i])) {
            scores[i * tokens + t] = -Infinity;
            continue;
          }
          let dot = 0;
          for (let j = 0; j < hd; j++) dot += qAt(i, j) * kAt(t, j);
          scores[i * tokens + t] = dot * scale;
        }
      }
      const probs = softmax(scores, tokens);
      for (let i = 0; i < tokens; i++) {
        for (let j = 0; j < hd; j++) {
          let sum = 0;
          for (let t = 0; t <= i; t++) sum += probs[i * tokens + t]! * vAt(t, j);
          out[((b * tokens + i) * heads + h) * hd + j] = sum;
        }
      }
    }
  }
  return out;
}
