import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { GraphBuilder } from './graph-builder.js';
import { createSession, float32Tensor, ort, probeExecutionProvider } from './onnx-session.js';

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

  for (const provider of ['cuda', 'webgpu'] as const)
    it(`falls back to CPU with one log line when ${provider} cannot be used, and computes the same`, async () => {
      const lines: string[] = [];
      const usable = await ort.InferenceSession.create(doublingGraph(), { executionProviders: [provider] }).then(
        () => true,
        () => false,
      );
      for (let i = 0; i < 2; i++) {
        const session = await createSession(doublingGraph(), {
          executionProvider: provider,
          log: (line) => lines.push(line),
        });
        const { y } = await session.run({ x: float32Tensor(Float32Array.of(3), [1]) });
        assert.deepEqual(Array.from(y!.data as Float32Array), [6]);
      }
      assert.equal(lines.length, usable ? 0 : 1);
      if (!usable) assert.match(lines[0]!, new RegExp(`${provider} execution provider unavailable .*running on CPU`));
      // What the process reports: the provider its sessions got, why, and the device.
      const status = await probeExecutionProvider(provider, (line) => lines.push(line));
      assert.equal(lines.length, usable ? 0 : 1, 'the probe does not say it again');
      assert.equal(status.requested, provider);
      assert.equal(status.active, usable ? provider : 'cpu');
      assert.equal(status.fallback === undefined, usable);
      if (!usable) assert.deepEqual(status.device, { name: os.cpus()[0]!.model.trim(), memoryBytes: os.totalmem() });
    });

  it('reports CPU as itself, on the host processor and its memory', async () => {
    const status = await probeExecutionProvider('cpu');
    assert.deepEqual(status, {
      requested: 'cpu',
      active: 'cpu',
      device: { name: os.cpus()[0]!.model.trim(), memoryBytes: os.totalmem() },
    });
  });
});
