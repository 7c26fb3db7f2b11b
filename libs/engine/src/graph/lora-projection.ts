import type { GraphBuilder, Tensor } from './graph-builder.js';

/** The adapter inputs every adapted projection of one forward pass shares. */
export interface LoraRouting {
  /** [B, k] int64: the slot each row uses for its j-th adapter (slot 0 = the zero adapter). */
  slots: Tensor;
  /** [B, T, k] float: the weight of adapter j at token t. */
  gates: Tensor;
}

/** One projection's adapter pool, as graph inputs: A [S, dIn, R], B [S, R, dOut]. */
export interface LoraPoolInputs {
  a: Tensor;
  b: Tensor;
}

/**
 * y = x W (+ bias) + Σ_j g[b,t,j] · (x A_{s(b,j)}) B_{s(b,j)}        (DESIGN.md §5)
 * Gather each row's selected slots; one batched MatMul down to rank R for each of the k
 * adapters, scale by the gates, fold k into the rank axis, one MatMul back up (which sums
 * over the adapters): the same few ops however many different adapters the batch mixes,
 * and no copy of the gathered factors beyond the gather itself.
 * x: [B, T, dIn] → [B, T, dOut]
 */
export function loraProjection(
  g: GraphBuilder,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  pool: LoraPoolInputs | null,
  routing: LoraRouting | null,
  dOut: number,
): Tensor {
  const shape = [x.shape[0]!, x.shape[1]!, dOut];
  let y = g.op('MatMul', [x, weight], { shape });
  if (bias) y = g.op('Add', [y, bias], { shape });
  if (!pool || !routing) return y;

  const dIn = x.shape[2];
  const rank = pool.a.shape[2];
  if (typeof dIn !== 'number') throw new Error(`${x.name}: the projection needs a fixed input width`);
  if (typeof rank !== 'number') throw new Error(`LoRA pool ${pool.a.name} needs a fixed rank (pools zero-pad smaller ranks)`);
  const a = g.op('Gather', [pool.a, routing.slots], { shape: ['B', 'k', dIn, rank] }, { axis: 0 }); // [B, k, dIn, R]
  const b = g.op('Gather', [pool.b, routing.slots], { shape: ['B', 'k', rank, dOut] }, { axis: 0 }); // [B, k, R, dOut]
  const rows = g.op('Unsqueeze', [x, g.ints([1])], { shape: ['B', 1, 'T', dIn] });
  const down = g.op('MatMul', [rows, a], { shape: ['B', 'k', 'T', rank] });
  // Gates [B, T, k] → [B, k, T, 1], broadcast over each adapter's R columns.
  const gates = g.op('Unsqueeze', [g.op('Transpose', [routing.gates], { shape: ['B', 'k', 'T'] }, { perm: [0, 2, 1] }), g.ints([3])], { shape: ['B', 'k', 'T', 1] });
  const gated = g.op('Mul', [down, gates], { shape: ['B', 'k', 'T', rank] });
  // [B, k, T, R] → [B, T, k·R] (small) against B folded to [B, k·R, dOut] (a free reshape).
  const gatedFolded = g.op('Reshape', [g.op('Transpose', [gated], { shape: ['B', 'T', 'k', rank] }, { perm: [0, 2, 1, 3] }), g.ints([0, 0, -1])], { shape: ['B', 'T', 'kR'] });
  const bFolded = g.op('Reshape', [b, g.ints([0, -1, dOut])], { shape: ['B', 'kR', dOut] });
  const delta = g.op('MatMul', [gatedFolded, bFolded], { shape });
  return g.op('Add', [y, delta], { shape });
}
