// The step recorder against the engine's real scheduler on a tiny model, requests on adapters
// as the serving-speed workloads send them: rows decoding together are one step per token, a
// row that joins late is caught, and events are grouped by the synchronous loop that emits
// them, not by time.
// Run: node --test bench/lib/*.test.mjs (after the engine is built).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as engine from '@tessera/engine';
import { randomWeights } from './engine-common.mjs';
import { randomAdapter } from './random-weight-reader.mjs';
import { stepGaps, stepRecorder } from './step-recorder.mjs';

const TINY = {
  architecture: 'llama',
  vocabSize: 257,
  dModel: 32,
  nLayers: 1,
  nHeads: 2,
  nKvHeads: 1,
  ffnDim: 64,
  maxPositions: 128,
  normEps: 1e-6,
  ropeTheta: 10000,
  tieEmbeddings: true,
};

const MODULES = ['self_attn.q_proj', 'self_attn.v_proj'];
const RANK = 2;
const session = await engine.DecoderSession.load(TINY, randomWeights(engine, TINY, 1), {
  threads: 1,
  lora: { modules: MODULES, rank: RANK },
});
const adapters = [0, 1, 2, 3].map((i) => randomAdapter(engine, TINY, MODULES, RANK, i));
const scheduler = () =>
  new engine.BatchScheduler(
    session,
    new engine.SlotPool(TINY, { slots: 5, rank: RANK, modules: MODULES }),
    new engine.ByteTokenizer(),
    {
      maxBatch: 4,
      prefillChunk: 64,
      maxBatchTokens: 256,
    },
  );
const request = (row, recorder, maxTokens) => ({
  prompt: [10 + row, 20, 30, 40],
  maxTokens,
  ignoreEndOfText: true,
  adapters: [{ id: `adapter-${row}`, load: () => adapters[row] }],
  onToken: recorder.onToken(row),
});

describe('stepRecorder', () => {
  it('sees rows that decode together as one step per token', async () => {
    const run = scheduler();
    const recorder = stepRecorder(run);
    await Promise.all([0, 1, 2, 3].map((row) => run.generate(request(row, recorder, 5))));
    const steps = recorder.checkedSteps(4, 5);
    assert.deepEqual(
      steps.map((step) => [...step.rows].sort()),
      Array(5).fill([0, 1, 2, 3]),
    );
    assert.equal(recorder.tokensOf(2), 5);
    const gaps = stepGaps(steps);
    assert.equal(gaps.length, 4);
    assert.ok(gaps.every((gap) => gap > 0));
  });

  it('fails a batch a row joined late', async () => {
    const run = scheduler();
    const recorder = stepRecorder(run);
    let joined = null;
    const first = run.generate({
      ...request(0, recorder, 6),
      onToken: (token, text) => {
        recorder.onToken(0)(token, text);
        joined ??= run.generate(request(1, recorder, 4));
      },
    });
    await first;
    await joined;
    assert.throws(() => recorder.checkedSteps(2, 6), /not one batch of 2/);
  });

  it('groups events by the synchronous loop that emits them', async () => {
    const recorder = stepRecorder({});
    recorder.onToken(0)();
    recorder.onToken(1)();
    await Promise.resolve();
    recorder.onToken(0)();
    assert.deepEqual(
      recorder.steps.map((step) => step.rows),
      [[0, 1], [0]],
    );
    assert.equal(recorder.kvPeak, null);
  });
});
