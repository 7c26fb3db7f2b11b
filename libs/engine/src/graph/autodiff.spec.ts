import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomArray, seededRandom } from '../testing/random.js';
import { addGradients } from './autodiff.js';
import { GraphBuilder, type Tensor } from './graph-builder.js';
import { GRADIENT_RULES } from './gradient-rules.js';
import { createSession, float32Tensor } from './onnx-session.js';

interface InputSpec {
  shape: number[];
  /** Values drawn from [low, high). */
  range?: [number, number];
}

interface OpCase {
  name: string;
  /** The op under test; the float inputs are differentiated. */
  inputs: InputSpec[];
  build: (g: GraphBuilder, x: Tensor[]) => Tensor;
}

const f = (
  g: GraphBuilder,
  type: string,
  inputs: (Tensor | null)[],
  shape: (number | string)[],
  attributes: Record<string, number | number[] | string> = {},
) => g.op(type, inputs, { dtype: 'float32', shape }, attributes);

/** Every rule, on small shapes that exercise its broadcasting and attributes. */
const CASES: OpCase[] = [
  { name: 'Identity', inputs: [{ shape: [2, 3] }], build: (g, [a]) => f(g, 'Identity', [a!], [2, 3]) },
  {
    name: 'Add (broadcast)',
    inputs: [{ shape: [2, 3, 4] }, { shape: [4] }],
    build: (g, [a, b]) => f(g, 'Add', [a!, b!], [2, 3, 4]),
  },
  {
    name: 'Sub (broadcast)',
    inputs: [{ shape: [2, 3, 4] }, { shape: [2, 1, 4] }],
    build: (g, [a, b]) => f(g, 'Sub', [a!, b!], [2, 3, 4]),
  },
  {
    name: 'Mul (broadcast)',
    inputs: [{ shape: [2, 3, 4] }, { shape: [2, 3, 1] }],
    build: (g, [a, b]) => f(g, 'Mul', [a!, b!], [2, 3, 4]),
  },
  { name: 'Mul (same tensor twice)', inputs: [{ shape: [3, 4] }], build: (g, [a]) => f(g, 'Mul', [a!, a!], [3, 4]) },
  {
    name: 'Div',
    inputs: [{ shape: [2, 3] }, { shape: [2, 3], range: [0.5, 2] }],
    build: (g, [a, b]) => f(g, 'Div', [a!, b!], [2, 3]),
  },
  { name: 'Neg', inputs: [{ shape: [5] }], build: (g, [a]) => f(g, 'Neg', [a!], [5]) },
  {
    name: 'MatMul (rows × shared weight)',
    inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }],
    build: (g, [a, b]) => f(g, 'MatMul', [a!, b!], [2, 3, 5]),
  },
  {
    name: 'MatMul (broadcast batch)',
    inputs: [{ shape: [2, 1, 3, 4] }, { shape: [2, 3, 4, 2] }],
    build: (g, [a, b]) => f(g, 'MatMul', [a!, b!], [2, 3, 3, 2]),
  },
  {
    name: 'Transpose',
    inputs: [{ shape: [2, 3, 4] }],
    build: (g, [a]) => f(g, 'Transpose', [a!], [4, 2, 3], { perm: [2, 0, 1] }),
  },
  { name: 'Reshape', inputs: [{ shape: [2, 6] }], build: (g, [a]) => f(g, 'Reshape', [a!, g.ints([3, -1])], [3, 4]) },
  {
    name: 'Unsqueeze',
    inputs: [{ shape: [2, 3] }],
    build: (g, [a]) => f(g, 'Unsqueeze', [a!, g.ints([1])], [2, 1, 3]),
  },
  { name: 'Squeeze', inputs: [{ shape: [2, 1, 3] }], build: (g, [a]) => f(g, 'Squeeze', [a!, g.ints([1])], [2, 3]) },
  {
    name: 'Gather (rows, repeated indices)',
    inputs: [{ shape: [5, 3] }],
    build: (g, [a]) => {
      const index = g.op('Reshape', [g.ints([0, 2, 2, 4]), g.ints([2, 2])], { dtype: 'int64', shape: [2, 2] });
      return f(g, 'Gather', [a!, index], [2, 2, 3], { axis: 0 });
    },
  },
  {
    name: 'GatherElements',
    inputs: [{ shape: [2, 3, 5] }],
    build: (g, [a]) => {
      const index = g.op('Reshape', [g.ints([1, 4, 0, 2, 2, 3]), g.ints([2, 3, 1])], {
        dtype: 'int64',
        shape: [2, 3, 1],
      });
      return f(g, 'GatherElements', [a!, index], [2, 3, 1], { axis: 2 });
    },
  },
  {
    name: 'Slice',
    inputs: [{ shape: [2, 9] }],
    build: (g, [a]) => f(g, 'Slice', [a!, g.ints([3]), g.ints([7]), g.ints([1])], [2, 4]),
  },
  {
    name: 'Concat',
    inputs: [{ shape: [2, 3] }, { shape: [2, 2] }],
    build: (g, [a, b]) => f(g, 'Concat', [a!, b!], [2, 5], { axis: -1 }),
  },
  {
    name: 'Softmax',
    inputs: [{ shape: [3, 5], range: [-2, 2] }],
    build: (g, [a]) => f(g, 'Softmax', [a!], [3, 5], { axis: -1 }),
  },
  {
    name: 'LogSoftmax',
    inputs: [{ shape: [3, 5], range: [-2, 2] }],
    build: (g, [a]) => f(g, 'LogSoftmax', [a!], [3, 5], { axis: -1 }),
  },
  {
    name: 'ReduceSum (drop axis)',
    inputs: [{ shape: [2, 3, 4] }],
    build: (g, [a]) => f(g, 'ReduceSum', [a!, g.ints([1])], [2, 4], { keepdims: 0 }),
  },
  {
    name: 'ReduceMean (keep axis)',
    inputs: [{ shape: [2, 3, 4] }],
    build: (g, [a]) => f(g, 'ReduceMean', [a!, g.ints([-1])], [2, 3, 1], { keepdims: 1 }),
  },
  { name: 'Sqrt', inputs: [{ shape: [6], range: [0.5, 2] }], build: (g, [a]) => f(g, 'Sqrt', [a!], [6]) },
  { name: 'Reciprocal', inputs: [{ shape: [6], range: [0.5, 2] }], build: (g, [a]) => f(g, 'Reciprocal', [a!], [6]) },
  { name: 'Exp', inputs: [{ shape: [6] }], build: (g, [a]) => f(g, 'Exp', [a!], [6]) },
  { name: 'Sigmoid', inputs: [{ shape: [6], range: [-3, 3] }], build: (g, [a]) => f(g, 'Sigmoid', [a!], [6]) },
  {
    name: 'Gelu (exact)',
    inputs: [{ shape: [8], range: [-3, 3] }],
    build: (g, [a]) => f(g, 'Gelu', [a!], [8], { approximate: 'none' }),
  },
  {
    name: 'Gelu (tanh)',
    inputs: [{ shape: [8], range: [-3, 3] }],
    build: (g, [a]) => f(g, 'Gelu', [a!], [8], { approximate: 'tanh' }),
  },
  {
    name: 'LayerNormalization',
    inputs: [{ shape: [2, 3, 6], range: [-2, 2] }, { shape: [6], range: [0.5, 1.5] }, { shape: [6] }],
    build: (g, [x, scale, bias]) =>
      f(g, 'LayerNormalization', [x!, scale!, bias!], [2, 3, 6], { axis: -1, epsilon: 1e-5 }),
  },
  {
    name: 'Where',
    inputs: [{ shape: [2, 3] }, { shape: [3] }],
    build: (g, [a, b]) => {
      const condition = g.op('Greater', [a!, g.scalar(0)], { dtype: 'bool', shape: [2, 3] });
      return f(g, 'Where', [condition, a!, b!], [2, 3]);
    },
  },
  { name: 'Expand', inputs: [{ shape: [1, 3] }], build: (g, [a]) => f(g, 'Expand', [a!, g.ints([4, 3])], [4, 3]) },
];

/** loss = Σ op(x) ⊙ R for a fixed random R, and its gradients, from one session. */
async function gradientSession(testCase: OpCase) {
  const g = new GraphBuilder('op_gradient');
  const inputs = testCase.inputs.map((spec, i) => g.input(`x${i}`, 'float32', spec.shape));
  const out = testCase.build(g, inputs);
  const size = out.shape.reduce<number>((a, b) => a * (b as number), 1);
  const weighting = g.initializer('weighting', randomArray(seededRandom(99), size, 1), out.shape as number[]);
  const loss = g.op(
    'ReduceSum',
    [g.op('Mul', [out, weighting], { shape: out.shape as number[] })],
    { shape: [] },
    { keepdims: 0 },
  );
  g.output(loss, 'loss');
  addGradients(g, loss, inputs).forEach((grad, i) => g.output(grad, `grad${i}`));
  const session = await createSession(g.serialize(), { threads: 1 });
  return async (values: Float32Array[]) => {
    const feeds = Object.fromEntries(values.map((v, i) => [`x${i}`, float32Tensor(v, testCase.inputs[i]!.shape)]));
    const result = await session.run(feeds);
    return {
      loss: (result.loss!.data as Float32Array)[0]!,
      grads: values.map((_, i) => result[`grad${i}`]!.data as Float32Array),
    };
  };
}

describe('autodiff: every gradient rule against central finite differences', () => {
  const tested = new Set(CASES.map((c) => c.name.split(' ')[0]!));
  it('covers every rule the forward graphs can reach', () => {
    const untested = Object.keys(GRADIENT_RULES).filter((rule) => !tested.has(rule));
    assert.deepEqual(untested, []);
  });

  for (const testCase of CASES) {
    it(testCase.name, async () => {
      const run = await gradientSession(testCase);
      const random = seededRandom(testCase.name.length * 31 + 7);
      const point = testCase.inputs.map((spec) => {
        const [low, high] = spec.range ?? [-1, 1];
        return Float32Array.from(
          { length: spec.shape.reduce((a, b) => a * b, 1) },
          () => low + (high - low) * random(),
        );
      });
      const { grads } = await run(point);
      // Directional derivatives along random directions: (L(x+εv) − L(x−εv)) / 2ε vs ⟨∇L, v⟩.
      const epsilon = 1e-2;
      for (let trial = 0; trial < 3; trial++) {
        const direction = point.map((p) => randomArray(random, p.length, 1));
        const shifted = (sign: number) => point.map((p, i) => p.map((v, j) => v + sign * epsilon * direction[i]![j]!));
        const numeric = ((await run(shifted(1))).loss - (await run(shifted(-1))).loss) / (2 * epsilon);
        const analytic = grads.reduce(
          (sum, grad, i) => sum + grad.reduce((s, v, j) => s + v * direction[i]![j]!, 0),
          0,
        );
        assert.ok(
          Math.abs(numeric - analytic) <= 2e-3 * Math.max(1, Math.abs(analytic)),
          `${testCase.name}: numeric ${numeric} vs analytic ${analytic}`,
        );
      }
    });
  }

  it('names the op that has no rule, and a loss that does not depend on the parameters', () => {
    const g = new GraphBuilder('no_rule');
    const x = g.input('x', 'float32', [3]);
    const loss = g.op('ReduceSum', [g.op('Cos', [x], { shape: [3] })], { shape: [] }, { keepdims: 0 });
    assert.throws(() => addGradients(g, loss, [x]), /no gradient rule for Cos/);
    const unrelated = g.input('y', 'float32', [3]);
    assert.throws(() => addGradients(g, loss, [unrelated]), /does not depend on any trainable tensor/);
  });
});
