import { seededRandom } from '../seeded-random.js';
import type { LoraAdapter, LoraFactors } from './lora-adapter.js';

/**
 * Arrow routing's prototype of one adapted projection: the unit input direction x that
 * ΔW = A·B moves most (its top singular vector on the input side), so |⟨h, v⟩| says how
 * much a token's hidden state h engages the adapter there. ΔW·ΔWᵀ = A·M·Aᵀ with M = B·Bᵀ
 * has its top eigenvector in A's column space, v = A·y, where y is the top eigenvector of
 * M·G (G = Aᵀ·A): power iteration in r×r, ΔW is never formed. The sign is arbitrary
 * (routing uses |⟨h, v⟩|); the start is seeded, so the result is reproducible.
 */
export function arrowPrototype(factors: LoraFactors, rank: number, iterations = 1000): Float32Array {
  const dIn = factors.a.length / rank;
  const gram = (m: Float32Array, rows: number, transposed: boolean) => {
    // transposed: m is [rows, r] and we want mᵀm; else m is [r, rows] and we want m·mᵀ.
    const out = new Float64Array(rank * rank);
    for (let i = 0; i < rank; i++)
      for (let j = 0; j < rank; j++) {
        let dot = 0;
        for (let n = 0; n < rows; n++)
          dot += transposed ? m[n * rank + i]! * m[n * rank + j]! : m[i * rows + n]! * m[j * rows + n]!;
        out[i * rank + j] = dot;
      }
    return out;
  };
  const g = gram(factors.a, dIn, true);
  const m = gram(factors.b, factors.b.length / rank, false);
  const mg = new Float64Array(rank * rank);
  for (let i = 0; i < rank; i++)
    for (let j = 0; j < rank; j++)
      for (let n = 0; n < rank; n++) mg[i * rank + j]! += m[i * rank + n]! * g[n * rank + j]!;
  const random = seededRandom(rank * 7919 + dIn);
  let y = Float64Array.from({ length: rank }, () => random() - 0.5);
  for (let step = 0; step < iterations; step++) {
    const next = new Float64Array(rank);
    for (let i = 0; i < rank; i++) for (let j = 0; j < rank; j++) next[i]! += mg[i * rank + j]! * y[j]!;
    const norm = Math.hypot(...next);
    if (norm === 0) return new Float32Array(dIn); // ΔW = 0: the adapter never engages here.
    const change = next.reduce((sum, x, i) => sum + Math.abs(x / norm - y[i]!), 0);
    y = next.map((x) => x / norm);
    if (change < 1e-12) break;
  }
  const v = new Float64Array(dIn);
  for (let i = 0; i < dIn; i++) for (let j = 0; j < rank; j++) v[i]! += factors.a[i * rank + j]! * y[j]!;
  const norm = Math.hypot(...v);
  return Float32Array.from(v, (x) => (norm === 0 ? 0 : x / norm));
}

const prototypes = new WeakMap<LoraAdapter, Map<string, Float32Array>>();

/** The adapter's prototype for one projection, computed once per adapter in memory. */
export function adapterPrototype(adapter: LoraAdapter, key: string): Float32Array | null {
  const factors = adapter.factors.get(key);
  if (!factors) return null;
  let known = prototypes.get(adapter);
  if (!known) prototypes.set(adapter, (known = new Map()));
  let vector = known.get(key);
  if (!vector) known.set(key, (vector = arrowPrototype(factors, adapter.rank)));
  return vector;
}
