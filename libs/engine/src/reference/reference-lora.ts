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
