import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphBuilder } from './graph-builder.js';
import { KeptSession } from './kept-session.js';
import { createSession, float32Tensor } from './onnx-session.js';

/** A real one-node session (y = 2x), counting how many were started. */
function doubler() {
  const g = new GraphBuilder('double');
  const x = g.input('x', 'float32', [1]);
  g.output(g.op('Mul', [x, g.scalar(2)], { shape: [1] }), 'y');
  const model = g.serialize();
  const counter = { starts: 0 };
  const start = () => {
    counter.starts++;
    return createSession(model, { threads: 1 });
  };
  return { start, counter };
}

const run = async (kept: KeptSession, value: number) =>
  kept.use(async (session) => {
    const { y } = await session.run({ x: float32Tensor(Float32Array.of(value), [1]) });
    return (y!.data as Float32Array)[0];
  });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('KeptSession', () => {
  it('starts on first use, once for concurrent uses, and keeps the session between uses', async () => {
    const { start, counter } = doubler();
    const kept = new KeptSession(start);
    assert.equal(kept.started, false);
    assert.deepEqual(await Promise.all([run(kept, 1), run(kept, 2), run(kept, 3)]), [2, 4, 6]);
    assert.equal(await run(kept, 4), 8);
    assert.equal(counter.starts, 1);
    assert.equal(kept.started, true);
    await kept.close();
    assert.equal(kept.started, false);
  });

  it('gives the session back after idleMs unused, and starts another for the next use', async () => {
    const { start, counter } = doubler();
    const kept = new KeptSession(start, 30);
    await run(kept, 1);
    assert.equal(kept.started, true);
    await sleep(150);
    assert.equal(kept.started, false);
    assert.equal(await run(kept, 5), 10);
    assert.equal(counter.starts, 2);
    await kept.close();
  });

  it('closed during a use: the session goes when that use ends, not before', async () => {
    const { start } = doubler();
    const kept = new KeptSession(start);
    let closedDuringUse = false;
    const result = kept.use(async (session) => {
      await kept.close();
      closedDuringUse = kept.started;
      return session.run({ x: float32Tensor(Float32Array.of(3), [1]) });
    });
    assert.equal(((await result).y!.data as Float32Array)[0], 6, 'the session still ran after close()');
    assert.equal(closedDuringUse, true);
    assert.equal(kept.started, false);
  });

  it('a start that fails reaches the caller, keeps nothing, and the next use tries again', async () => {
    const { start, counter } = doubler();
    let fail = true;
    const kept = new KeptSession(() => (fail ? Promise.reject(new Error('no memory')) : start()));
    await assert.rejects(run(kept, 1), /no memory/);
    assert.equal(kept.started, false);
    fail = false;
    assert.equal(await run(kept, 2), 4);
    assert.equal(counter.starts, 1);
    await kept.close();
  });
});
