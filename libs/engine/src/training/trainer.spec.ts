import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { LoraAdapter } from '../adapter/lora-adapter.js';
import type { DecoderConfig } from '../model/decoder-config.js';
import { domainTexts } from '../testing/synthetic-domains.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainingCheckpoint } from './checkpoint.js';
import {
  AdapterEvaluator,
  DEFAULT_HYPERPARAMETERS,
  evaluateAdapter,
  prepareData,
  train,
  trainBase,
  trainGate,
  type TrainingModel,
} from './trainer.js';
import { TrainingCancelled } from './training-loop.js';

const CONFIG: DecoderConfig = {
  architecture: 'gpt2',
  vocabSize: 257,
  dModel: 32,
  nLayers: 2,
  nHeads: 2,
  maxPositions: 64,
  normEps: 1e-5,
  gelu: 'tanh',
};
const tokenizer = new ByteTokenizer();
const THREADS = { threads: 1 };
const texts = (domain: Parameters<typeof domainTexts>[0], count: number, seed = 0) =>
  domainTexts(domain, count, seed).map((text) => ({ text }));
const LORA = { rank: 4, alpha: 8, learningRate: 2e-2, batchSize: 4, maxSequenceLength: 48, warmupSteps: 2, seed: 3 };

/** A tiny base model pretrained on two domains, so the LoRA tests start from a real model. */
let base: TrainingModel;
before(async () => {
  const h = {
    learningRate: 1e-2,
    batchSize: 8,
    maxSequenceLength: 48,
    warmupSteps: 5,
    maxSteps: 400,
    seed: 1,
    validationFraction: 0,
  };
  const data = prepareData([...texts('weather', 60), ...texts('sports', 60)], tokenizer, {
    ...DEFAULT_HYPERPARAMETERS,
    ...h,
  });
  const { weights } = await trainBase({ config: CONFIG, data, hyperparameters: h, ...THREADS });
  base = { name: 'tiny', config: CONFIG, weights, tokenizer };
});

describe('trainer', () => {
  it('memorises a small dataset (full training: loss → near 0)', async () => {
    const records = [{ text: 'the cat sat on the mat.' }, { text: 'a dog ran in the park!' }];
    const h = {
      learningRate: 1e-2,
      batchSize: 2,
      maxSequenceLength: 24,
      warmupSteps: 5,
      maxSteps: 150,
      seed: 2,
      validationFraction: 0,
    };
    const data = prepareData(records, tokenizer, { ...DEFAULT_HYPERPARAMETERS, ...h });
    const losses: number[] = [];
    await trainBase({
      config: { ...CONFIG, maxPositions: 24 },
      data,
      hyperparameters: h,
      onProgress: (p) => losses.push(p.loss),
      ...THREADS,
    });
    assert.ok(losses[0]! > 4, `starts near uniform (ln 257 ≈ 5.5): ${losses[0]}`);
    assert.ok(losses.at(-1)! < 0.05, `ends near 0: ${losses.at(-1)}`);
  });

  it('evaluates validation loss at the steps asked: every evalEvery, or `evaluations` spread over the run, and at the end', async () => {
    const evaluatedAt = async (hyperparameters: object) => {
      const steps: number[] = [];
      await train({
        model: base,
        data: texts('recipes', 40),
        hyperparameters: { ...LORA, maxSteps: 9, validationFraction: 0.2, ...hyperparameters },
        onProgress: (p) => p.validation && steps.push(p.step),
        ...THREADS,
      });
      return steps;
    };
    assert.deepEqual(await evaluatedAt({ evaluations: 3 }), [3, 6, 9]);
    assert.deepEqual(await evaluatedAt({ evalEvery: 4 }), [4, 8, 9]);
    assert.deepEqual(await evaluatedAt({}), [9]);
  });

  it('a LoRA fine-tune on a held-out domain lowers validation loss clearly below the base model', async (t) => {
    const result = await train({
      model: base,
      data: texts('recipes', 80),
      hyperparameters: { ...LORA, epochs: 10, validationFraction: 0.2 },
      ...THREADS,
    });
    const { initialValidationLoss, validationLoss, validationAccuracy } = result.metrics;
    assert.ok(initialValidationLoss! > 1.5, `base model on the new domain: ${initialValidationLoss}`);
    t.diagnostic(
      `validation loss: base ${initialValidationLoss!.toFixed(3)}, fine-tuned ${validationLoss!.toFixed(3)} nats/token`,
    );
    assert.ok(
      validationLoss! < 0.6 * initialValidationLoss!,
      `fine-tuned ${validationLoss} vs base ${initialValidationLoss}`,
    );
    assert.ok(validationAccuracy! > 0.5);
    // The base model's loss is what evaluateAdapter reports for no adapter; the adapter's, with it.
    const held = texts('recipes', 10, 9);
    const [without, withAdapter] = [
      await evaluateAdapter(base, null, held, THREADS),
      await evaluateAdapter(base, result.adapter, held, THREADS),
    ];
    assert.ok(withAdapter.loss < 0.6 * without.loss, `${withAdapter.loss} vs ${without.loss}`);
    // One evaluator, reused for the adapter, the base model and the adapter again, scores exactly what a fresh one does.
    const evaluator = await AdapterEvaluator.create(base, result.adapter, THREADS);
    assert.deepEqual(await evaluator.evaluate(result.adapter, held), withAdapter);
    assert.deepEqual(await evaluator.evaluate(null, held), without);
    assert.deepEqual(await evaluator.evaluate(result.adapter, held), withAdapter);
    await assert.rejects(evaluator.evaluate({ ...result.adapter, rank: 2 }, held), /scores rank 4 adapters/);
    await evaluator.release();
    // PEFT files, and a routing centroid the size of the hidden state.
    assert.equal(result.peft.config.r, 4);
    assert.equal(result.centroid.length, CONFIG.dModel);
    assert.ok(result.centroid.some((v) => v !== 0));
  });

  it('document-masked rows score each document exactly as it scores alone; rows packed across documents do not', async () => {
    const documents = [{ text: 'rain in oslo.' }, { text: 'the wolves won 3 to 1.' }, { text: 'mix the oats.' }];
    // One row holds all three (14 + 23 + 14 tokens): only the masking separates them.
    const options = { ...THREADS, maxSequenceLength: 64 };
    const together = await evaluateAdapter(base, null, documents, options);
    const alone = await Promise.all(documents.map((d) => evaluateAdapter(base, null, [d], options)));
    const tokens = alone.reduce((n, e) => n + e.tokens, 0);
    assert.equal(together.tokens, tokens);
    const summed = alone.reduce((sum, e) => sum + e.loss * e.tokens, 0) / tokens;
    assert.ok(Math.abs(together.loss - summed) < 1e-5, `together ${together.loss} vs alone ${summed}`);
    const across = await evaluateAdapter(base, null, documents, { ...options, packing: 'cross_document' });
    // Across documents, each document's first token is a target too, and context leaks in.
    assert.equal(across.tokens, tokens + documents.length - 1);
    assert.notEqual(across.loss, together.loss);
  });

  it('fine-tunes on, and scores, a single 200 KB record (what a fine-tune and a deletion audit do with it)', async () => {
    // Its 200,000 token ids once went through push(...ids) and overflowed the stack.
    const records = [{ text: 'q'.repeat(200_000) }, { text: 'a short one' }];
    const result = await train({ model: base, data: records, hyperparameters: { ...LORA, maxSteps: 2 }, ...THREADS });
    assert.equal(result.metrics.steps, 2);
    const evaluator = await AdapterEvaluator.create(base, result.adapter, THREADS);
    const bounded = await AdapterEvaluator.create(base, result.adapter, { ...THREADS, maxRows: 8 });
    try {
      assert.ok(Number.isFinite((await evaluator.evaluate(result.adapter, records)).loss));
      // With maxRows only a text's first rows are scored: more of the same text changes nothing.
      assert.deepEqual(
        await bounded.evaluate(result.adapter, [{ text: 'q'.repeat(300_000) }]),
        await bounded.evaluate(result.adapter, [{ text: 'q'.repeat(200_000) }]),
      );
    } finally {
      await evaluator.release();
      await bounded.release();
    }
  });

  it('is deterministic: same seed, data and threads → bitwise-identical adapter; another seed differs', async () => {
    const run = (seed: number) =>
      train({ model: base, data: texts('code', 24), hyperparameters: { ...LORA, maxSteps: 6, seed }, ...THREADS });
    const [a, b, c] = [await run(5), await run(5), await run(6)];
    assert.deepEqual(Buffer.from(a.peft.weights), Buffer.from(b.peft.weights));
    assert.notDeepEqual(Buffer.from(a.peft.weights), Buffer.from(c.peft.weights));
  });

  it('resuming from a checkpoint gives the same adapter, bit for bit, as never stopping', async () => {
    const hyperparameters = { ...LORA, maxSteps: 8, gradientAccumulation: 2, checkpointEvery: 3 };
    const checkpoints: TrainingCheckpoint[] = [];
    const whole = await train({
      model: base,
      data: texts('travel', 30),
      hyperparameters,
      onCheckpoint: (c) => void checkpoints.push(c),
      ...THREADS,
    });
    assert.deepEqual(
      checkpoints.map((c) => c.step),
      [3, 6],
    );
    // Through its bytes, as it would be stored.
    const stored = decodeCheckpoint(encodeCheckpoint(checkpoints[0]!));
    const resumed = await train({
      model: base,
      data: texts('travel', 30),
      hyperparameters,
      resume: stored,
      ...THREADS,
    });
    assert.deepEqual(Buffer.from(resumed.peft.weights), Buffer.from(whole.peft.weights));
    assert.equal(resumed.metrics.steps, 8);
  });

  it('cancellation stops within one step and leaves a checkpoint that resumes to the same result', async () => {
    const hyperparameters = { ...LORA, maxSteps: 6 };
    const whole = await train({ model: base, data: texts('chemistry', 30), hyperparameters, ...THREADS });
    const controller = new AbortController();
    const stepsSeen: number[] = [];
    let saved: TrainingCheckpoint | undefined;
    const cancelled = train({
      model: base,
      data: texts('chemistry', 30),
      hyperparameters,
      signal: controller.signal,
      onProgress: (p) => {
        stepsSeen.push(p.step);
        if (p.step === 2) controller.abort();
      },
      onCheckpoint: (c) => void (saved = c),
      ...THREADS,
    });
    await assert.rejects(
      cancelled,
      (error: unknown) => error instanceof TrainingCancelled && error.checkpoint.step === 2,
    );
    assert.deepEqual(stepsSeen, [1, 2]);
    assert.equal(saved?.step, 2);
    const resumed = await train({
      model: base,
      data: texts('chemistry', 30),
      hyperparameters,
      resume: saved!,
      ...THREADS,
    });
    assert.deepEqual(Buffer.from(resumed.peft.weights), Buffer.from(whole.peft.weights));
  });

  it('a gate over frozen adapters lowers loss on mixed-domain data below the best single adapter', async (t) => {
    const adapters: LoraAdapter[] = [];
    for (const domain of ['recipes', 'code'] as const) {
      adapters.push(
        (
          await train({
            model: base,
            data: texts(domain, 60),
            hyperparameters: { ...LORA, epochs: 3, validationFraction: 0 },
            ...THREADS,
          })
        ).adapter,
      );
    }
    const mixed = [...texts('recipes', 30, 4), ...texts('code', 30, 4)];
    const heldOut = [...texts('recipes', 10, 8), ...texts('code', 10, 8)];
    const gate = await trainGate({
      model: base,
      adapters,
      data: mixed,
      validation: heldOut,
      hyperparameters: {
        learningRate: 5e-2,
        batchSize: 4,
        maxSequenceLength: 48,
        maxSteps: 30,
        warmupSteps: 2,
        seed: 1,
      },
      ...THREADS,
    });
    const singles = await Promise.all(
      adapters.map((adapter) => evaluateAdapter(base, adapter, heldOut, { ...THREADS, maxSequenceLength: 48 })),
    );
    const best = Math.min(...singles.map((s) => s.loss));
    t.diagnostic(
      `mixed held-out loss: gate ${gate.metrics.validationLoss!.toFixed(3)}, single adapters ${singles.map((s) => s.loss.toFixed(3)).join(', ')}`,
    );
    assert.ok(
      gate.metrics.validationLoss! < best,
      `gate ${gate.metrics.validationLoss} vs best single adapter ${best} (${singles.map((s) => s.loss.toFixed(3))})`,
    );
  });
});
