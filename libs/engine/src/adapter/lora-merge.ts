import { seededRandom } from '../seeded-random.js';
import type { LoraAdapter, LoraFactors } from './lora-adapter.js';

/**
 * Weight-space merges of LoRA adapters into one adapter, as PEFT's `add_weighted_adapter`
 * defines them (non-SVD): `cat` stacks the factors along the rank (ΔW = Σ wᵢ·ΔWᵢ exactly);
 * `linear`, `ties`, `dare_linear` and `dare_ties` combine the A's and the B's separately
 * with per-adapter weights √|wᵢ·sᵢ|, sᵢ = αᵢ/rᵢ (so one adapter at weight 1 is itself), by
 * task arithmetic, TIES (trim to the top `density` by magnitude, elect a sign, mean of the
 * agreeing) or DARE (drop at random, keep `density`, rescale by 1/density). A negative
 * weight negates the adapter's A (as current PEFT does), so its ΔW enters with its sign. As
 * in PEFT, one adapter alone is always a linear merge. The result has α = r: its own
 * scaling is 1.
 */
export type MergeMethod = 'linear' | 'cat' | 'ties' | 'dare_linear' | 'dare_ties';

export interface MergeOptions {
  /** ties, dare: the share of each tensor's entries kept (default 0.5). */
  density?: number;
  /** dare: the drop masks' seed (default 0); each projection's A and B of each member draw their own stream. */
  seed?: number;
  /** ties, dare_ties: elect each entry's sign by the sum of values (total) or of signs (frequency). */
  majoritySignMethod?: 'total' | 'frequency';
}

/** Every reason these adapters cannot be merged this way, in words; empty when they can. */
export function mergeProblems(
  adapters: readonly LoraAdapter[],
  weights: readonly number[],
  method: MergeMethod,
  options: MergeOptions = {},
): string[] {
  const problems: string[] = [];
  if (adapters.length === 0) problems.push('a merge needs at least one adapter');
  if (weights.length !== adapters.length) problems.push(`${weights.length} weights for ${adapters.length} adapters`);
  weights.forEach((w, i) => {
    if (!Number.isFinite(w)) problems.push(`weight ${i} is not a finite number`);
  });
  const density = options.density ?? 0.5;
  if (method !== 'linear' && method !== 'cat' && !(density > 0 && density <= 1))
    problems.push(`density ${density} is outside (0, 1]`);
  const ranks = [...new Set(adapters.map((a) => a.rank))];
  if (method !== 'cat' && ranks.length > 1)
    problems.push(`${method} needs adapters of one rank, got ranks ${ranks.join(', ')} (cat takes any)`);
  const shapes = new Map<string, string>();
  adapters.forEach((adapter, i) => {
    for (const [key, f] of adapter.factors) {
      const shape = `${f.a.length / adapter.rank}→${f.b.length / adapter.rank}`;
      const seen = shapes.get(key);
      if (seen && seen !== shape) problems.push(`${key}: adapter ${i} is ${shape}, another ${seen}`);
      shapes.set(key, seen ?? shape);
    }
  });
  return problems;
}

export function mergeAdapters(
  adapters: readonly LoraAdapter[],
  weights: readonly number[],
  requested: MergeMethod,
  options: MergeOptions = {},
): LoraAdapter {
  const problems = mergeProblems(adapters, weights, requested, options);
  if (problems.length) throw new Error(`cannot merge: ${problems.join('; ')}`);
  // As PEFT: trimming or dropping one adapter's entries has nothing to agree with.
  const method = adapters.length === 1 && requested !== 'cat' ? 'linear' : requested;
  const keys = [...new Set(adapters.flatMap((a) => [...a.factors.keys()]))].sort();
  const rank = method === 'cat' ? adapters.reduce((sum, a) => sum + a.rank, 0) : adapters[0]!.rank;
  const factors = new Map<string, LoraFactors>();
  for (const key of keys) {
    // As PEFT: an adapter that does not adapt this projection takes no part in it.
    const present = adapters.flatMap((adapter, i) =>
      adapter.factors.has(key) ? [{ adapter, index: i, weight: weights[i]!, f: adapter.factors.get(key)! }] : [],
    );
    if (method === 'cat') {
      factors.set(key, concatenated(present, rank, adapters));
      continue;
    }
    const scaled = present.map((p) => p.weight * (p.adapter.alpha / p.adapter.rank));
    const scales = scaled.map((ws) => Math.sqrt(Math.abs(ws)));
    // The sign goes on A before trimming and sign election: a negated adapter votes as its negation.
    const a = present.map((p, i) => (scaled[i]! < 0 ? p.f.a.map((x) => -x) : p.f.a));
    const streams = (part: 'a' | 'b') =>
      present.map((p) => seededRandom(streamSeed(options.seed ?? 0, key, part, p.index)));
    factors.set(key, {
      a: combined(a, scales, method, options, streams('a')),
      b: combined(
        present.map((p) => p.f.b),
        scales,
        method,
        options,
        streams('b'),
      ),
    });
  }
  const targetModules = [...new Set(adapters.flatMap((a) => a.targetModules))];
  return { rank, alpha: rank, targetModules, factors };
}

/** ΔW = (α/r)·A·B of one projection, [dIn, dOut]. */
export function deltaWeight(adapter: LoraAdapter, key: string): Float32Array {
  const f = adapter.factors.get(key);
  if (!f) throw new Error(`the adapter does not adapt ${key}`);
  const r = adapter.rank;
  const dIn = f.a.length / r;
  const dOut = f.b.length / r;
  const scale = adapter.alpha / r;
  const out = new Float32Array(dIn * dOut);
  for (let i = 0; i < dIn; i++)
    for (let j = 0; j < r; j++) {
      const a = f.a[i * r + j]! * scale;
      for (let o = 0; o < dOut; o++) out[i * dOut + o]! += a * f.b[j * dOut + o]!;
    }
  return out;
}

/**
 * cat: A = [w₁s₁A₁ | w₂s₂A₂ | …] along the rank, B = [B₁; B₂; …], so A·B = Σ wᵢsᵢAᵢBᵢ.
 * Every adapter keeps its columns; one absent at this projection leaves its columns zero.
 */
function concatenated(
  present: { adapter: LoraAdapter; weight: number; f: LoraFactors }[],
  rank: number,
  all: readonly LoraAdapter[],
): LoraFactors {
  const first = present[0]!;
  const dIn = first.f.a.length / first.adapter.rank;
  const dOut = first.f.b.length / first.adapter.rank;
  const a = new Float32Array(dIn * rank);
  const b = new Float32Array(rank * dOut);
  let offset = 0;
  for (const adapter of all) {
    const p = present.find((q) => q.adapter === adapter);
    const r = adapter.rank;
    if (p) {
      const scale = p.weight * (adapter.alpha / r);
      for (let i = 0; i < dIn; i++) for (let j = 0; j < r; j++) a[i * rank + offset + j] = p.f.a[i * r + j]! * scale;
      b.set(p.f.b, offset * dOut);
    }
    offset += r;
  }
  return { a, b };
}

/**
 * One drop-mask stream per (seed, projection, A or B, adapter's place in the member list): a
 * mask never depends on which other projections the adapters adapt. FNV-1a over the four, as
 * the generator's seed.
 */
function streamSeed(seed: number, key: string, part: 'a' | 'b', adapterIndex: number): number {
  let hash = 0x811c9dc5;
  for (const char of `${seed}\u0000${key}\u0000${part}\u0000${adapterIndex}`)
    hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return hash;
}

/** PEFT's merge_utils on one stack of same-shaped tensors with weights; `randoms[i]` draws tensor i's drop mask. */
function combined(
  tensors: Float32Array[],
  weights: number[],
  method: Exclude<MergeMethod, 'cat'>,
  options: MergeOptions,
  randoms: (() => number)[],
): Float32Array {
  const density = options.density ?? 0.5;
  const size = tensors[0]!.length;
  let kept = tensors;
  if (method === 'ties') kept = tensors.map((t) => magnitudePruned(t, density));
  if (method === 'dare_linear' || method === 'dare_ties')
    kept = tensors.map((t, i) => t.map((x) => (randoms[i]!() < density ? x / density : 0)));
  const out = new Float32Array(size);
  if (method === 'linear' || method === 'dare_linear') {
    kept.forEach((t, i) => t.forEach((x, e) => (out[e]! += weights[i]! * x)));
    return out;
  }
  // TIES: per entry, the sign with the larger total (or count), then the mean of the weighted entries that agree.
  for (let e = 0; e < size; e++) {
    let vote = 0;
    for (const t of kept) vote += options.majoritySignMethod === 'frequency' ? Math.sign(t[e]!) : t[e]!;
    const elected = vote >= 0 ? 1 : -1;
    let sum = 0;
    let count = 0;
    kept.forEach((t, i) => {
      if (Math.sign(t[e]!) !== elected) return;
      sum += weights[i]! * t[e]!;
      count++;
    });
    out[e] = sum / Math.max(count, 1);
  }
  return out;
}

/** The ⌊density·n⌋ entries of largest magnitude (ties to the lower index), the rest 0. */
function magnitudePruned(t: Float32Array, density: number): Float32Array {
  const keep = Math.floor(density * t.length);
  const order = Array.from(t.keys()).sort((i, j) => Math.abs(t[j]!) - Math.abs(t[i]!) || i - j);
  const out = new Float32Array(t.length);
  for (const i of order.slice(0, keep)) out[i] = t[i]!;
  return out;
}
