import type { GradientContext } from './autodiff.js';
import type { NodeRecord, Tensor } from './graph-builder.js';

/**
 * d loss / d input for each input of one node, given d loss / d output, as ONNX ops
 * (null where an input is not differentiable or not needed). Forward in decoder.ts,
 * backward here; each rule is checked against finite differences in autodiff.spec.ts.
 */
export type GradientRule = (
  c: GradientContext,
  node: NodeRecord,
  gradOut: Tensor,
  needed: readonly boolean[],
) => (Tensor | null)[];

const identity: GradientRule = (_c, _node, gradOut) => [gradOut];

/** Reshape, Squeeze, Unsqueeze: the gradient is the output's gradient in the input's shape. */
const reshapeBack: GradientRule = (c, node, gradOut) => {
  const x = node.inputs[0]!;
  return [c.op('Reshape', [gradOut, c.shapeOf(x)], x.shape)];
};

function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Swaps the last two axes of a tensor of any rank ≥ 2. */
function transposeLast(c: GradientContext, t: Tensor): Tensor {
  const rank = t.shape.length;
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return c.op(
    'Transpose',
    [t],
    perm.map((p) => t.shape[p]!),
    { perm },
  );
}

export const GRADIENT_RULES: Record<string, GradientRule> = {
  Identity: identity,
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,

  Add: (c, node, gradOut) => node.inputs.slice(0, 2).map((x) => c.unbroadcast(gradOut, x!)),

  Sub: (c, node, gradOut, needed) => [
    c.unbroadcast(gradOut, node.inputs[0]!),
    needed[1] ? c.unbroadcast(c.op('Neg', [gradOut], gradOut.shape), node.inputs[1]!) : null,
  ],

  Mul: (c, node, gradOut, needed) => {
    const [a, b] = node.inputs as Tensor[];
    return [
      needed[0] ? c.unbroadcast(c.op('Mul', [gradOut, b!], gradOut.shape), a!) : null,
      needed[1] ? c.unbroadcast(c.op('Mul', [gradOut, a!], gradOut.shape), b!) : null,
    ];
  },

  Div: (c, node, gradOut, needed) => {
    const [a, b] = node.inputs as Tensor[];
    // d(a/b)/db = −(a/b)/b = −y/b
    return [
      needed[0] ? c.unbroadcast(c.op('Div', [gradOut, b!], gradOut.shape), a!) : null,
      needed[1]
        ? c.unbroadcast(
            c.op(
              'Neg',
              [c.op('Div', [c.op('Mul', [gradOut, node.output], gradOut.shape), b!], gradOut.shape)],
              gradOut.shape,
            ),
            b!,
          )
        : null,
    ];
  },

  Neg: (c, _node, gradOut) => [c.op('Neg', [gradOut], gradOut.shape)],

  MatMul: (c, node, gradOut, needed) => {
    const [a, b] = node.inputs as Tensor[];
    const k = a!.shape[a!.shape.length - 1]!;
    const n = b!.shape[b!.shape.length - 1]!;
    const batchDims = node.output.shape.slice(0, -2);
    const gradA = needed[0]
      ? c.unbroadcast(c.op('MatMul', [gradOut, transposeLast(c, b!)], gradOut.shape.slice(0, -1).concat([k])), a!)
      : null;
    let gradB: Tensor | null = null;
    if (needed[1]) {
      if (b!.shape.length === 2 && a!.shape.length > 2) {
        // A weight shared by every row: flatten the rows and do one [k, rows]·[rows, n] product.
        const rows = c.op('Reshape', [a!, c.g.ints([-1, k as number])], ['rows', k]);
        const grads = c.op('Reshape', [gradOut, c.g.ints([-1, n as number])], ['rows', n]);
        gradB = c.op('Gemm', [rows, grads], [k, n], { transA: 1 });
      } else {
        gradB = c.unbroadcast(c.op('MatMul', [transposeLast(c, a!), gradOut], batchDims.concat([k, n])), b!);
      }
    }
    return [gradA, gradB];
  },

  Transpose: (c, node, gradOut) => {
    const perm = node.attributes.perm as number[];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [c.op('Transpose', [gradOut], node.inputs[0]!.shape, { perm: inverse })];
  },

  /** Embedding lookups and slot gathers along axis 0: scatter-add the rows back. */
  Gather: (c, node, gradOut) => {
    if (c.int(node, 'axis', 0) !== 0) throw new Error('autodiff: Gather is differentiated along axis 0 only');
    const [data, indices] = node.inputs as Tensor[];
    const index = c.op('Unsqueeze', [indices!, c.g.ints([-1])], [...indices!.shape, 1]);
    return [c.op('ScatterND', [c.zerosLike(data!), index, gradOut], data!.shape, { reduction: 'add' }), null];
  },

  GatherElements: (c, node, gradOut) => {
    const [data, indices] = node.inputs as Tensor[];
    return [
      c.op('ScatterElements', [c.zerosLike(data!), indices!, gradOut], data!.shape, {
        axis: c.int(node, 'axis', 0),
        reduction: 'add',
      }),
      null,
    ];
  },

  /** Static slices (constant bounds, known width): pad the gradient back with zeros. */
  Slice: (c, node, gradOut) => {
    const x = node.inputs[0]!;
    const [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) => c.g.constantInts(node.inputs[i]));
    if (!starts || !ends || (node.inputs[3] && !axes) || (node.inputs[4] && (!steps || steps.some((s) => s !== 1)))) {
      throw new Error(`autodiff: Slice producing ${node.output.name} needs constant bounds and step 1`);
    }
    const rank = x.shape.length;
    const pads = new Array<number>(2 * rank).fill(0);
    (axes ?? starts.map((_, i) => i)).forEach((rawAxis, i) => {
      const axis = normalizeAxis(rawAxis, rank);
      const width = x.shape[axis];
      if (typeof width !== 'number')
        throw new Error(`autodiff: Slice producing ${node.output.name} cuts an axis of unknown width`);
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + width : v, 0), width);
      pads[axis] = clamp(starts[i]!);
      pads[rank + axis] = width - clamp(ends[i]!);
    });
    return [c.op('Pad', [gradOut, c.g.ints(pads)], x.shape), null, null, null, null];
  },

  /** Concatenation of parts of known widths: slice the gradient apart. */
  Concat: (c, node, gradOut) => {
    const rank = node.output.shape.length;
    const axis = normalizeAxis(c.int(node, 'axis', 0), rank);
    let offset = 0;
    return node.inputs.map((part) => {
      const width = part!.shape[axis];
      if (typeof width !== 'number')
        throw new Error(`autodiff: Concat producing ${node.output.name} joins parts of unknown width`);
      const grad = c.op(
        'Slice',
        [gradOut, c.g.ints([offset]), c.g.ints([offset + width]), c.g.ints([axis])],
        part!.shape,
      );
      offset += width;
      return grad;
    });
  },

  Softmax: (c, node, gradOut) => {
    // dx = y ⊙ (g − Σ g⊙y)
    const y = node.output;
    const axis = c.int(node, 'axis', -1);
    const dot = c.op(
      'ReduceSum',
      [c.op('Mul', [gradOut, y], y.shape), c.g.ints([axis])],
      y.shape.map((d, i) => (normalizeAxis(axis, y.shape.length) === i ? 1 : d)),
      { keepdims: 1 },
    );
    return [c.op('Mul', [y, c.op('Sub', [gradOut, dot], y.shape)], y.shape)];
  },

  LogSoftmax: (c, node, gradOut) => {
    // dx = g − softmax(x) · Σ g
    const y = node.output;
    const axis = c.int(node, 'axis', -1);
    const total = c.op(
      'ReduceSum',
      [gradOut, c.g.ints([axis])],
      y.shape.map((d, i) => (normalizeAxis(axis, y.shape.length) === i ? 1 : d)),
      { keepdims: 1 },
    );
    return [c.op('Sub', [gradOut, c.op('Mul', [c.op('Exp', [y], y.shape), total], y.shape)], y.shape)];
  },

  ReduceSum: (c, node, gradOut) => [spreadBack(c, node, gradOut, 1), null],

  ReduceMean: (c, node, gradOut) => {
    const x = node.inputs[0]!;
    const axes = (node.inputs[1] ? (c.g.constantInts(node.inputs[1]) ?? []) : [...x.shape.keys()]).map((axis) =>
      normalizeAxis(axis, x.shape.length),
    );
    const count = axes.reduce((product, axis) => {
      const width = x.shape[axis];
      if (typeof width !== 'number')
        throw new Error(`autodiff: ReduceMean producing ${node.output.name} averages an axis of unknown width`);
      return product * width;
    }, 1);
    return [spreadBack(c, node, gradOut, 1 / count), null];
  },

  Sqrt: (c, node, gradOut) => [
    c.op('Div', [c.op('Mul', [gradOut, c.g.scalar(0.5)], gradOut.shape), node.output], gradOut.shape),
  ],

  Reciprocal: (c, node, gradOut) => {
    const y = node.output;
    return [c.op('Neg', [c.op('Mul', [gradOut, c.op('Mul', [y, y], y.shape)], y.shape)], y.shape)];
  },

  Exp: (c, node, gradOut) => [c.op('Mul', [gradOut, node.output], gradOut.shape)],

  Sigmoid: (c, node, gradOut) => {
    const y = node.output;
    const slope = c.op('Mul', [y, c.op('Sub', [c.g.scalar(1), y], y.shape)], y.shape);
    return [c.op('Mul', [gradOut, slope], y.shape)];
  },

  Gelu: (c, node, gradOut) => {
    const x = node.inputs[0]!;
    const s = x.shape;
    const mul = (a: Tensor, b: Tensor) => c.op('Mul', [a, b], s);
    const add = (a: Tensor, b: Tensor) => c.op('Add', [a, b], s);
    const k = (v: number) => c.g.scalar(v);
    let slope: Tensor;
    if (node.attributes.approximate === 'tanh') {
      // u = √(2/π)(x + 0.044715x³); d/dx = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)
      const x2 = mul(x, x);
      const u = mul(k(Math.sqrt(2 / Math.PI)), add(x, mul(k(0.044715), mul(x2, x))));
      const th = c.op('Tanh', [u], s);
      const du = mul(k(Math.sqrt(2 / Math.PI)), add(k(1), mul(k(3 * 0.044715), x2)));
      const sech2 = c.op('Sub', [k(1), mul(th, th)], s);
      slope = add(mul(k(0.5), add(k(1), th)), mul(mul(k(0.5), x), mul(sech2, du)));
    } else {
      // d/dx = Φ(x) + x·φ(x)
      const cdf = mul(k(0.5), add(k(1), c.op('Erf', [mul(x, k(Math.SQRT1_2))], s)));
      const pdf = mul(k(1 / Math.sqrt(2 * Math.PI)), c.op('Exp', [mul(k(-0.5), mul(x, x))], s));
      slope = add(cdf, mul(x, pdf));
    }
    return [mul(gradOut, slope)];
  },

  /** Over the last axis, recomputing the statistics rather than keeping them. */
  LayerNormalization: (c, node, gradOut, needed) => {
    const [x, scale, bias] = node.inputs as Tensor[];
    const s = x!.shape;
    const reduced = [...s.slice(0, -1), 1];
    const eps = node.attributes.epsilon as number;
    const mean = (t: Tensor) => c.op('ReduceMean', [t, c.g.ints([-1])], reduced, { keepdims: 1 });
    const centred = c.op('Sub', [x!, mean(x!)], s);
    const variance = mean(c.op('Mul', [centred, centred], s));
    const rstd = c.op(
      'Reciprocal',
      [c.op('Sqrt', [c.op('Add', [variance, c.g.scalar(eps)], reduced)], reduced)],
      reduced,
    );
    const normalized = c.op('Mul', [centred, rstd], s);
    const dNormalized = c.op('Mul', [gradOut, scale!], s);
    // dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ ⊙ x̂))
    const inner = c.op(
      'Sub',
      [
        c.op('Sub', [dNormalized, mean(dNormalized)], s),
        c.op('Mul', [normalized, mean(c.op('Mul', [dNormalized, normalized], s))], s),
      ],
      s,
    );
    return [
      needed[0] ? c.op('Mul', [rstd, inner], s) : null,
      needed[1] ? c.unbroadcast(c.op('Mul', [gradOut, normalized], s), scale!) : null,
      needed[2] && bias ? c.unbroadcast(gradOut, bias) : null,
    ];
  },

  Where: (c, node, gradOut, needed) => {
    const [condition, a, b] = node.inputs as Tensor[];
    const zero = c.g.scalar(0);
    return [
      null,
      needed[1] ? c.unbroadcast(c.op('Where', [condition!, gradOut, zero], gradOut.shape), a!) : null,
      needed[2] ? c.unbroadcast(c.op('Where', [condition!, zero, gradOut], gradOut.shape), b!) : null,
    ];
  },

  Expand: (c, node, gradOut) => [c.unbroadcast(gradOut, node.inputs[0]!), null],
};

/** The gradient of a reduction, spread back over the reduced axes (times `factor`). */
function spreadBack(c: GradientContext, node: NodeRecord, gradOut: Tensor, factor: number): Tensor {
  const x = node.inputs[0]!;
  // No axes input: every axis is reduced.
  const axes = node.inputs[1] ? c.g.constantInts(node.inputs[1]) : [...x.shape.keys()];
  if (!axes) throw new Error(`autodiff: ${node.type} producing ${node.output.name} needs constant axes`);
  const keptShape = x.shape.map((d, i) => (axes.map((a) => normalizeAxis(a, x.shape.length)).includes(i) ? 1 : d));
  const kept = c.int(node, 'keepdims', 1) === 1 ? gradOut : c.op('Unsqueeze', [gradOut, c.g.ints(axes)], keptShape);
  const scaled = factor === 1 ? kept : c.op('Mul', [kept, c.g.scalar(factor)], keptShape);
  return c.op('Expand', [scaled, c.shapeOf(x)], x.shape);
}
