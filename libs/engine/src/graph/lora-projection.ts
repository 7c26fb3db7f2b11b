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
 * Gather the selected slots, fold k into the rank axis, one MatMul down, scale by the
 * gates, one MatMul up: two batched MatMuls however many adapters the batch mixes.
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
  const a = g.op('Gather', [pool.a, routing.slots], { shape: ['B', 'k', dIn, 'R'] }, { axis: 0 }); // [B, k, dIn, R]
  const aFolded = g.op('Reshape', [g.op('Transpose', [a], { shape: ['B', dIn, 'k', 'R'] }, { perm: [0, 2, 1, 3] }), g.ints([0, dIn, -1])], {
    shape: ['B', dIn, 'kR'],
  }); // [B, dIn, k·R]
  const down = g.op('MatMul', [x, aFolded], { shape: ['B', 'T', 'kR'] }); // [B, T, k·R]
  // Gates broadcast over each adapter's R columns: [B, T, k, R] · [B, T, k, 1].
  const downByAdapter = g.op('Reshape', [down, g.ints([0, 0, -1, rank])], { shape: ['B', 'T', 'k', 'R'] });
  const gated = g.op('Mul', [downByAdapter, g.op('Unsqueeze', [routing.gates, g.ints([3])], { shape: ['B', 'T', 'k', 1] })], {
    shape: ['B', 'T', 'k', 'R'],
  });
  const gatedFlat = g.op('Reshape', [gated, g.ints([0, 0, -1])], { shape: ['B', 'T', 'kR'] });
  const b = g.op('Gather', [pool.b, routing.slots], { shape: ['B', 'k', 'R', dOut] }, { axis: 0 }); // [B, k, R, dOut]
  const bFolded = g.op('Reshape', [b, g.ints([0, -1, dOut])], { shape: ['B', 'kR', dOut] }); // [B, k·R, dOut]
  const delta = g.op('MatMul', [gatedFlat, bFolded], { shape });
  return g.op('Add', [y, delta], { shape });
}
