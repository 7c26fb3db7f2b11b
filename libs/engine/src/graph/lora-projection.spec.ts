import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loraDelta } from '../reference/reference-lora.js';
import { addBias, matmul } from '../reference/reference-ops.js';
import { GraphBuilder } from './graph-builder.js';
import { loraProjection } from './lora-projection.js';
import { createSession, float32Tensor, int64Tensor } from './onnx-session.js';
import { maxAbsDiff, randomArray, seededRandom } from '../testing/random.js';

const B = 3;
const T = 5;
const D_IN = 16;
const D_OUT = 12;
const S = 6;
const R = 4;
const K = 2;

/** One adapted projection as a whole graph: x, pool and routing in, y out. */
async function projectionSession() {
  const g = new GraphBuilder('lora_projection');
  const random = seededRandom(1);
  const weight = randomArray(random, D_IN * D_OUT, 0.2);
  const bias = randomArray(random, D_OUT, 0.1);
  const x = g.input('x', 'float32', ['B', 'T', D_IN]);
  const slots = g.input('slots', 'int64', ['B', 'k']);
  const gates = g.input('gates', 'float32', ['B', 'T', 'k']);
  const a = g.input('lora_a', 'float32', ['S', D_IN, R]);
  const b = g.input('lora_b', 'float32', ['S', R, D_OUT]);
  const y = loraProjection(
    g,
    x,
    g.initializer('w', weight, [D_IN, D_OUT]),
    g.initializer('bias', bias, [D_OUT]),
    { a, b },
    { slots, gates },
    D_OUT,
  );
  g.output(y, 'y');
  return { session: await createSession(g.serialize(), { threads: 1 }), weight, bias };
}

describe('loraProjection', () => {
  const random = seededRandom(7);
  const x = randomArray(random, B * T * D_IN, 1);
  const poolA = randomArray(random, S * D_IN * R, 0.3);
  const poolB = randomArray(random, S * R * D_OUT, 0.3);
  // Slot 0 is the zero adapter: base model only.
  poolA.fill(0, 0, D_IN * R);
  poolB.fill(0, 0, R * D_OUT);

  it('matches the TypeScript reference with different adapters and per-token gates on each row', async () => {
    const { session, weight, bias } = await projectionSession();
    const slots = [
      [1, 4],
      [2, 0],
      [5, 3],
    ];
    const gates = randomArray(random, B * T * K, 1).map(Math.abs);
    const result = await session.run({
      x: float32Tensor(x, [B, T, D_IN]),
      slots: int64Tensor(slots.flat(), [B, K]),
      gates: float32Tensor(gates, [B, T, K]),
      lora_a: float32Tensor(poolA, [S, D_IN, R]),
      lora_b: float32Tensor(poolB, [S, R, D_OUT]),
    });
    const expected = addBias(matmul(x, weight, B * T, D_IN, D_OUT), bias);
    const delta = loraDelta(x, { a: poolA, b: poolB, slots: S, rank: R, dIn: D_IN, dOut: D_OUT }, slots, gates, B, T);
    const reference = expected.map((v, i) => v + delta[i]!);
    assert.ok(maxAbsDiff(result.y!.data as Float32Array, reference) < 1e-4);
  });

  it('gives each slot the output of the base model with merged weights W + A·B', async () => {
    const { session, weight, bias } = await projectionSession();
    for (const slot of [0, 3]) {
      const result = await session.run({
        x: float32Tensor(x, [B, T, D_IN]),
        slots: int64Tensor(Array(B).fill(slot), [B, 1]),
        gates: float32Tensor(new Float32Array(B * T).fill(1), [B, T, 1]),
        lora_a: float32Tensor(poolA, [S, D_IN, R]),
        lora_b: float32Tensor(poolB, [S, R, D_OUT]),
      });
      const a = poolA.subarray(slot * D_IN * R, (slot + 1) * D_IN * R);
      const b = poolB.subarray(slot * R * D_OUT, (slot + 1) * R * D_OUT);
      const merged = matmul(a, b, D_IN, R, D_OUT).map((v, i) => v + weight[i]!);
      const reference = addBias(matmul(x, merged, B * T, D_IN, D_OUT), bias);
      const diff = maxAbsDiff(result.y!.data as Float32Array, reference);
      assert.ok(diff < 1e-4, `slot ${slot}: max abs diff ${diff}`);
    }
  });
});
