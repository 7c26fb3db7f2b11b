import { matmul } from './reference-ops.js';

/** Stacked adapter slots of one projection: A [S, dIn, R], B [S, R, dOut] (α/r already folded into B). */
export interface LoraPool {
  a: Float32Array;
  b: Float32Array;
  slots: number;
  rank: number;
  dIn: number;
  dOut: number;
}

/**
 * The LoRA term of DESIGN.md §5 for one batch: for row b, token t,
 *   Σ_j g[b,t,j] · (x[b,t] A[s(b,j)]) B[s(b,j)]
 * x: [B, T, dIn], slots: [B, k], gates: [B, T, k] → [B, T, dOut]
 */
export function loraDelta(
  x: Float32Array,
  pool: LoraPool,
  slots: number[][],
  gates: Float32Array,
  batch: number,
  tokens: number,
): Float32Array {
  const { rank, dIn, dOut } = pool;
  const k = slots[0]?.length ?? 0;
  const out = new Float32Array(batch * tokens * dOut);
  for (let b = 0; b < batch; b++) {
    const rows = x.subarray(b * tokens * dIn, (b + 1) * tokens * dIn);
    for (let j = 0; j < k; j++) {
      const slot = slots[b]![j]!;
      const a = pool.a.subarray(slot * dIn * rank, (slot + 1) * dIn * rank);
      const bw = pool.b.subarray(slot * rank * dOut, (slot + 1) * rank * dOut);
      const down = matmul(rows, a, tokens, dIn, rank); // [T, R]
      for (let t = 0; t < tokens; t++) {
        const g = gates[(b * tokens + t) * k + j]!;
        for (let r = 0; r < rank; r++) down[t * rank + r]! *= g;
      }
      const up = matmul(down, bw, tokens, rank, dOut); // [T, dOut]
      for (let i = 0; i < tokens * dOut; i++) out[b * tokens * dOut + i]! += up[i]!;
    }
  }
  return out;
}

/** Token routing per row (lora-projection.ts): top_k 0 keeps the row's fixed gates. */
export interface ReferenceTokenRouting {
  /** Router vectors [S, dIn] by projection key. */
  vectors: Map<string, Float32Array>;
  topK: number[];
  absolute: boolean[];
}

/**
 * The gates one projection applies [B, T, k]: for routed rows, softmax over the top_k
 * candidates (gates > 0) by ⟨x, r_slot⟩, or |⟨x, r_slot⟩| for Arrow rows.
 */
export function routedGates(
  x: Float32Array,
  vectors: Float32Array,
  slots: number[][],
  gates: Float32Array,
  routing: ReferenceTokenRouting,
  batch: number,
  tokens: number,
  dIn: number,
): Float32Array {
  const k = slots[0]?.length ?? 0;
  const out = Float32Array.from(gates);
  for (let b = 0; b < batch; b++) {
    if (routing.topK[b]! <= 0) continue;
    for (let t = 0; t < tokens; t++) {
      const at = (b * tokens + t) * k;
      const scores = slots[b]!.map((slot) => {
        let dot = 0;
        for (let i = 0; i < dIn; i++) dot += x[(b * tokens + t) * dIn + i]! * vectors[slot * dIn + i]!;
        return routing.absolute[b] ? Math.abs(dot) : dot;
      });
      const candidate = scores.map((_, j) => gates[at + j]! > 0);
      const kept = scores.map(
        (s, j) => candidate[j] && scores.filter((o, i) => candidate[i] && o > s).length < routing.topK[b]!,
      );
      const top = Math.max(...scores.filter((_, j) => kept[j]));
      const exps = scores.map((s, j) => (kept[j] ? Math.exp(s - top) : 0));
      const total = exps.reduce((p, q) => p + q, 0);
      for (let j = 0; j < k; j++) out[at + j] = exps[j]! / total;
    }
  }
  return out;
}
