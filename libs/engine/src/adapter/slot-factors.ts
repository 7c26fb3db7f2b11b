import type { LoraAdapter } from './lora-adapter.js';

/**
 * The factors an adapter puts in one pool slot for one projection: A zero-padded from r to
 * the pool's rank R, and B scaled by α/r (folded once at load, not per token) and padded.
 * Padding adds zero columns to A and zero rows to B, so x·A·B is unchanged.
 * Returns zeros where the adapter does not touch the projection.
 */
export function slotFactors(
  adapter: LoraAdapter,
  key: string,
  dIn: number,
  dOut: number,
  poolRank: number,
): { a: Float32Array; b: Float32Array } {
  if (adapter.rank > poolRank) throw new Error(`adapter rank ${adapter.rank} exceeds the pool's rank ${poolRank}`);
  const a = new Float32Array(dIn * poolRank);
  const b = new Float32Array(poolRank * dOut);
  const factors = adapter.factors.get(key);
  if (!factors) return { a, b };
  const r = adapter.rank;
  const scale = adapter.alpha / r;
  for (let i = 0; i < dIn; i++) for (let j = 0; j < r; j++) a[i * poolRank + j] = factors.a[i * r + j]!;
  for (let j = 0; j < r; j++) for (let o = 0; o < dOut; o++) b[j * dOut + o] = factors.b[j * dOut + o]! * scale;
  return { a, b };
}
