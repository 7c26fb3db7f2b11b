import { MICROSOFT_DOMAIN, type GraphBuilder, type Tensor } from './graph-builder.js';

/** A projection's base weight W [dIn, dOut]: a dense tensor, or block-quantized (MatMulNBits's inputs). */
export type BaseWeight = Tensor | QuantizedWeight;

export interface QuantizedWeight {
  kind: 'nbits';
  /** [N, K/blockSize, blockSize·bits/8] uint8 */
  data: Tensor;
  /** [N · K/blockSize] */
  scales: Tensor;
  bits: 4 | 8;
  blockSize: number;
  /** MatMulNBits's accuracy_level: 0 computes in fp32; 4 quantizes activations to int8 per block (the fast CPU kernels). */
  accuracyLevel: 0 | 4;
}

/** x W for either kind of base weight. x: [B, T, dIn] → shape */
export function baseMatMul(g: GraphBuilder, x: Tensor, weight: BaseWeight, shape: (string | number)[]): Tensor {
  if (!('kind' in weight)) return g.op('MatMul', [x, weight], { shape });
  const k = x.shape[x.shape.length - 1];
  const n = shape[shape.length - 1];
  return g.op(
    'MatMulNBits',
    [x, weight.data, weight.scales],
    { shape },
    {
      K: k as number,
      N: n as number,
      bits: weight.bits,
      block_size: weight.blockSize,
      accuracy_level: weight.accuracyLevel,
    },
    MICROSOFT_DOMAIN,
  );
}

/** The adapter inputs every adapted projection of one forward pass shares. */
export interface LoraRouting {
  /** [B, k] int64: the slot each row uses for its j-th adapter (slot 0 = the zero adapter). */
  slots: Tensor;
  /** [B, T, k] float: the weight of adapter j at token t (for routed rows: 1 marks a candidate, 0 padding). */
  gates: Tensor;
  /**
   * Token routing, decided afresh in every adapted projection from its own input x. Rows
   * with top_k 0 keep `gates`; the others weight their candidates by a softmax over the
   * top_k of ⟨x, r_s⟩ (a learned gate) or of |⟨x, r_s⟩| (Arrow, where r_s is the slot's
   * SVD prototype) — the projection's router vectors r [S, dIn], one per slot.
   */
  router?: TokenRouterInputs;
}

export type TokenRouterInputs =
  /** Serving: each row says how it routes. */
  | {
      kind: 'per-row';
      /** [B, 1, 1] float: how many candidates each row's softmax keeps; 0 = the row's gates are fixed. */
      topK: Tensor;
      /** [B, 1, 1] float: 1 scores by |⟨x, r⟩| (Arrow), 0 by ⟨x, r⟩ (a learned gate). */
      absolute: Tensor;
    }
  /** Training a gate: every row a learned gate over all k slots (what per-row gives with top_k = k). */
  | { kind: 'learned' };

/** One projection's adapter pool, as graph inputs: A [S, dIn, R], B [S, R, dOut]. */
export interface LoraPoolInputs {
  a: Tensor;
  b: Tensor;
  /** [S, dIn] the slots' router vectors, where the graph routes tokens. */
  router?: Tensor;
  /**
   * [] bool: whether any adapter of this pass adapts the projection. Where none does the delta
   * is zero, and the graph skips computing it (an ONNX If) instead of multiplying zero slots.
   */
  active?: Tensor;
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
  weight: BaseWeight,
  bias: Tensor | null,
  pool: LoraPoolInputs | null,
  routing: LoraRouting | null,
  dOut: number,
  /** Receives the gates this projection applied, [B, T, k] (the routing trace averages them). */
  onGates?: (gates: Tensor) => void,
): Tensor {
  const shape = [x.shape[0]!, x.shape[1]!, dOut];
  let y = baseMatMul(g, x, weight, shape);
  if (bias) y = g.op('Add', [y, bias], { shape });
  if (!pool || !routing) return y;

  const dIn = x.shape[2];
  const rank = pool.a.shape[2];
  if (typeof dIn !== 'number') throw new Error(`${x.name}: the projection needs a fixed input width`);
  if (typeof rank !== 'number')
    throw new Error(`LoRA pool ${pool.a.name} needs a fixed rank (pools zero-pad smaller ranks)`);
  // The gates stay outside the skip: the routing trace averages them over every adapted projection.
  const applied = routing.router && pool.router ? routedGates(g, x, pool.router, routing, dIn) : routing.gates;
  onGates?.(applied);
  const adapted = (branch: GraphBuilder): Tensor => {
    const a = branch.op('Gather', [pool.a, routing.slots], { shape: ['B', 'k', dIn, rank] }, { axis: 0 }); // [B, k, dIn, R]
    const up = branch.op('Gather', [pool.b, routing.slots], { shape: ['B', 'k', rank, dOut] }, { axis: 0 }); // [B, k, R, dOut]
    const rows = branch.op('Unsqueeze', [x, branch.ints([1])], { shape: ['B', 1, 'T', dIn] });
    const down = branch.op('MatMul', [rows, a], { shape: ['B', 'k', 'T', rank] });
    // Gates [B, T, k] → [B, k, T, 1], broadcast over each adapter's R columns.
    const gates = branch.op(
      'Unsqueeze',
      [branch.op('Transpose', [applied], { shape: ['B', 'k', 'T'] }, { perm: [0, 2, 1] }), branch.ints([3])],
      { shape: ['B', 'k', 'T', 1] },
    );
    const gated = branch.op('Mul', [down, gates], { shape: ['B', 'k', 'T', rank] });
    // [B, k, T, R] → [B, T, k·R] (small) against B folded to [B, k·R, dOut] (a free reshape).
    const gatedFolded = branch.op(
      'Reshape',
      [
        branch.op('Transpose', [gated], { shape: ['B', 'T', 'k', rank] }, { perm: [0, 2, 1, 3] }),
        branch.ints([0, 0, -1]),
      ],
      { shape: ['B', 'T', 'kR'] },
    );
    const upFolded = branch.op('Reshape', [up, branch.ints([0, -1, dOut])], { shape: ['B', 'kR', dOut] });
    const delta = branch.op('MatMul', [gatedFolded, upFolded], { shape });
    return branch.op('Add', [y, delta], { shape });
  };
  if (!pool.active) return adapted(g);
  return g.ifElse(pool.active, shape, adapted, () => y);
}

/**
 * Per-token gates [B, T, k] from the projection's input: scores s_j = ⟨x, r_{slot j}⟩ (|·|
 * for Arrow rows), the candidates (gates > 0) ranked per token, the best top_k kept and
 * softmaxed; rows with top_k 0 keep their fixed gates. The rank of j is how many
 * candidates score strictly higher, so ties keep both (scores are continuous: rare).
 */
function routedGates(g: GraphBuilder, x: Tensor, routerPool: Tensor, routing: LoraRouting, dIn: number): Tensor {
  const router = routing.router!;
  const vectors = g.op('Gather', [routerPool, routing.slots], { shape: ['B', 'k', dIn] }, { axis: 0 });
  const dots = g.op('MatMul', [x, g.op('Transpose', [vectors], { shape: ['B', dIn, 'k'] }, { perm: [0, 2, 1] })], {
    shape: ['B', 'T', 'k'],
  });
  if (router.kind === 'learned') return g.op('Softmax', [dots], { shape: ['B', 'T', 'k'] }, { axis: -1 });
  const { topK, absolute } = router;
  // absolute·|s| + (1 − absolute)·s
  const scores = g.op(
    'Add',
    [
      dots,
      g.op(
        'Mul',
        [absolute, g.op('Sub', [g.op('Abs', [dots], { shape: ['B', 'T', 'k'] }), dots], { shape: ['B', 'T', 'k'] })],
        { shape: ['B', 'T', 'k'] },
      ),
    ],
    { shape: ['B', 'T', 'k'] },
  );
  const candidate = g.op('Greater', [routing.gates, g.scalar(0)], { dtype: 'bool', shape: ['B', 'T', 'k'] });
  const candidateF = g.op('Cast', [candidate], { dtype: 'float32', shape: ['B', 'T', 'k'] }, { to: 1 });
  // higher[b,t,j,i] = candidate i scores above j; summed over i: j's rank among the candidates.
  const higher = g.op(
    'Greater',
    [
      g.op('Unsqueeze', [scores, g.ints([2])], { shape: ['B', 'T', 1, 'k'] }),
      g.op('Unsqueeze', [scores, g.ints([3])], { shape: ['B', 'T', 'k', 1] }),
    ],
    { dtype: 'bool', shape: ['B', 'T', 'k', 'k'] },
  );
  const higherF = g.op(
    'Mul',
    [
      g.op('Cast', [higher], { dtype: 'float32', shape: ['B', 'T', 'k', 'k'] }, { to: 1 }),
      g.op('Unsqueeze', [candidateF, g.ints([2])], { shape: ['B', 'T', 1, 'k'] }),
    ],
    { shape: ['B', 'T', 'k', 'k'] },
  );
  const rank = g.op('ReduceSum', [higherF, g.ints([3])], { shape: ['B', 'T', 'k'] }, { keepdims: 0 });
  const kept = g.op('And', [candidate, g.op('Less', [rank, topK], { dtype: 'bool', shape: ['B', 'T', 'k'] })], {
    dtype: 'bool',
    shape: ['B', 'T', 'k'],
  });
  const routed = g.op(
    'Softmax',
    [g.op('Where', [kept, scores, g.scalar(-1e9)], { dtype: 'float32', shape: ['B', 'T', 'k'] })],
    { shape: ['B', 'T', 'k'] },
    { axis: -1 },
  );
  const isRouted = g.op('Greater', [topK, g.scalar(0)], { dtype: 'bool', shape: ['B', 1, 1] });
  return g.op('Where', [isRouted, routed, routing.gates], { dtype: 'float32', shape: ['B', 'T', 'k'] });
}
