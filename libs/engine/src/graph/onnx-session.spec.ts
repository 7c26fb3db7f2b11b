import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphBuilder } from './graph-builder.js';
import { createSession, float32Tensor, ort } from './onnx-session.js';

function doublingGraph(): Uint8Array {
  const g = new GraphBuilder('double');
  const x = g.input('x', 'float32', ['n']);
  g.output(g.op('Mul', [x, g.scalar(2)], { shape: ['n'] }), 'y');
  return g.serialize();
}

describe('createSession', () => {
  it('runs a built graph on CPU', async () => {
    const session = await createSession(doublingGraph());
    const { y } = await session.run({ x: float32Tensor(Float32Array.of(1, -2.5), [2]) });
    assert.deepEqual(Array.from(y!.data as Float32Array), [2, -5]);
  });

  it('falls back to CPU with one log line when CUDA cannot be used, and computes the same', async () => {
    const lines: string[] = [];
    const cudaUsable = await ort.InferenceSession.create(doublingGraph(), { executionProviders: ['cuda'] }).then(
      () => true,
      () => false,
    );
    for (let i = 0; i < 2; i++) {
      const session = await createSession(doublingGraph(), {
        executionProvider: 'cuda',
        log: (line) => lines.push(line),
      });
      const { y } = await session.run({ x: float32Tensor(Float32Array.of(3), [1]) });
      assert.deepEqual(Array.from(y!.data as Float32Array), [6]);
    }
    assert.equal(lines.length, cudaUsable ? 0 : 1);
    if (!cudaUsable) assert.match(lines[0]!, /CUDA execution provider unavailable .*running on CPU/);
  });
});
