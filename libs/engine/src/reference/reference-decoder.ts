import { projectionShape, type DecoderConfig, type DecoderWeights, type Gpt2TargetModule } from '../model/decoder-config.js';
import { loraDelta, type LoraPool } from './reference-lora.js';
import { add, addBias, gelu, layerNorm, matmul, softmax } from './reference-ops.js';

export interface ReferenceLora {
  /** Pools by `h.<layer>.<module>`. */
  pools: Map<string, LoraPool>;
  slots: number[][];
  /** [B, T, k] */
  gates: Float32Array;
}

/**
 * The GPT-2 forward pass in plain TypeScript: token ids [B, T] → logits [B, T, vocab].
 * Mirrors model/decoder.ts op for op; the graphs are checked against it.
 */
export function referenceGpt2Logits(config: DecoderConfig, weights: DecoderWeights, ids: number[][], lora?: ReferenceLora): Float32Array {
  const d = config.dModel;
  const batch = ids.length;
  const tokens = ids[0]!.length;
  const w = (name: string) => {
    const value = weights.get(name);
    if (!value) throw new Error(`missing weight ${name}`);
    return value;
  };
  const rows = batch * tokens;

  let x: Float32Array = new Float32Array(rows * d);
  const wte = w('wte.weight');
  const wpe = w('wpe.weight');
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens; t++) {
      const id = ids[b]![t]!;
      for (let j = 0; j < d; j++) x[(b * tokens + t) * d + j] = wte[id * d + j]! + wpe[t * d + j]!;
    }
  }

  const project = (input: Float32Array, layer: number, module: Gpt2TargetModule) => {
    const [dIn, dOut] = projectionShape(config, module);
    const y = addBias(matmul(input, w(`h.${layer}.${module}.weight`), rows, dIn, dOut), w(`h.${layer}.${module}.bias`));
    const pool = lora?.pools.get(`h.${layer}.${module}`);
    if (!lora || !pool) return y;
    return add(y, loraDelta(input, pool, lora.slots, lora.gates, batch, tokens));
  };

  for (let layer = 0; layer < config.nLayers; layer++) {
    const h1 = layerNorm(x, w(`h.${layer}.ln_1.weight`), w(`h.${layer}.ln_1.bias`), config.layerNormEps);
    const qkv = project(h1, layer, 'attn.c_attn');
    const attended = causalSelfAttention(qkv, batch, tokens, config.nHeads, d);
    x = add(x, project(attended, layer, 'attn.c_proj'));
    const h2 = layerNorm(x, w(`h.${layer}.ln_2.weight`), w(`h.${layer}.ln_2.bias`), config.layerNormEps);
    x = add(x, project(gelu(project(h2, layer, 'mlp.c_fc')), layer, 'mlp.c_proj'));
  }
  const final = layerNorm(x, w('ln_f.weight'), w('ln_f.bias'), config.layerNormEps);
  // Tied embeddings: logits = h · wteᵀ.
  const logits = new Float32Array(rows * config.vocabSize);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < config.vocabSize; v++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += final[r * d + j]! * wte[v * d + j]!;
      logits[r * config.vocabSize + v] = dot;
    }
  }
  return logits;
}

/** qkv: [B, T, 3d] → [B, T, d], causal, heads of d / nHeads. */
function causalSelfAttention(qkv: Float32Array, batch: number, tokens: number, heads: number, d: number): Float32Array {
  const hd = d / heads;
  const out = new Float32Array(batch * tokens * d);
  const scale = 1 / Math.sqrt(hd);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const at = (t: number, part: number, j: number) => qkv[(b * tokens + t) * 3 * d + part * d + h * hd + j]!;
      const scores = new Float32Array(tokens * tokens);
      for (let i = 0; i < tokens; i++) {
        for (let t = 0; t < tokens; t++) {
          if (t > i) {
            scores[i * tokens + t] = -Infinity;
            continue;
          }
          let dot = 0;
          for (let j = 0; j < hd; j++) dot += at(i, 0, j) * at(t, 1, j);
          scores[i * tokens + t] = dot * scale;
        }
      }
      const probs = softmax(scores, tokens);
      for (let i = 0; i < tokens; i++) {
        for (let j = 0; j < hd; j++) {
          let sum = 0;
          for (let t = 0; t <= i; t++) sum += probs[i * tokens + t]! * at(t, 2, j);
          out[(b * tokens + i) * d + h * hd + j] = sum;
        }
      }
    }
  }
  return out;
}


