import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readPeftAdapter } from '../adapter/peft-format.js';
import { projectionKeys } from '../model/decoder-config.js';
import { randomWeights, TINY_GPT2 } from '../testing/random.js';
import { domainTexts } from '../testing/synthetic-domains.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { PlacementProber, probePlacements, selectPlacements, type PlacementScore } from './placement-probe.js';
import { evaluateAdapter, train, type TrainingModel } from './trainer.js';

const CONFIG = TINY_GPT2;
const model: TrainingModel = {
  name: 'tiny',
  config: CONFIG,
  weights: randomWeights(CONFIG, 5),
  tokenizer: new ByteTokenizer(),
};
const records = domainTexts('recipes', 24, 1).map((text) => ({ text }));
const H = { batchSize: 4, maxSequenceLength: 48, seed: 7 };
const OPTIONS = { threads: 1, hyperparameters: H, batches: 2, sketchRank: 8 };

describe('placement probing', () => {
  it('scores every layer × module, within the sketch rank, the same way twice for a seed', async () => {
    const first = await probePlacements({ model, data: records, ...OPTIONS });
    const again = await probePlacements({ model, data: records, ...OPTIONS });
    assert.deepEqual(
      first.scores.map((s) => s.key),
      projectionKeys(CONFIG).map((p) => p.key),
    );
    assert.deepEqual(again.scores, first.scores);
    for (const score of first.scores) {
      assert.ok(score.gradientRank >= 1 && score.gradientRank <= 8, `${score.key}: rank ${score.gradientRank}`);
      assert.ok(score.gradientNorm > 0, `${score.key}: no gradient reached it`);
    }
    const other = await probePlacements({ model, data: records, ...OPTIONS, hyperparameters: { ...H, seed: 8 } });
    assert.notDeepEqual(other.scores, first.scores, 'another seed sketches through another random matrix');
  });

  it('a prober keeps its session between probes, scores as a one-shot probe does, and gives the session back when idle', async () => {
    const prober = new PlacementProber(model, { threads: 1, sketchRank: 8, idleMs: 50 });
    try {
      assert.equal(prober.started, false);
      const request = { data: records, hyperparameters: H, batches: 2 };
      const first = await prober.probe(request);
      assert.equal(prober.started, true);
      const other = await prober.probe({ ...request, hyperparameters: { ...H, seed: 8 } });
      assert.notDeepEqual(other.scores, first.scores, 'the sketch is drawn per probe from its seed');
      assert.deepEqual((await prober.probe(request)).scores, first.scores);
      assert.deepEqual((await probePlacements({ model, data: records, ...OPTIONS })).scores, first.scores);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(prober.started, false, 'released after 50 ms unused');
      assert.deepEqual((await prober.probe(request)).scores, first.scores, 'and started again for the next probe');
    } finally {
      await prober.close();
    }
    assert.equal(prober.started, false);
  });

  it('sizes itself to the fine-tune it places: one micro-batch per 20 of the run, 1 to 4', async () => {
    const probeOf = (hyperparameters: object) =>
      probePlacements({
        model,
        data: records,
        threads: 1,
        sketchRank: 8,
        hyperparameters: { ...H, ...hyperparameters },
      });
    assert.equal((await probeOf({ maxSteps: 10 })).batches, 1);
    assert.equal((await probeOf({ maxSteps: 30, gradientAccumulation: 2 })).batches, 3);
    assert.equal((await probeOf({ maxSteps: 500 })).batches, 4);
  });

  it('picks the best-scoring placements that fit the budget, and only those', () => {
    const score = (key: string, gradientRank: number, parametersPerRank: number): PlacementScore => ({
      key,
      layer: 0,
      module: 'attn.c_attn',
      gradientRank,
      gradientNorm: 1,
      parametersPerRank,
    });
    const scores = [score('a', 3, 100), score('b', 5, 100), score('c', 4, 300), score('d', 2, 100)];
    // rank 2: b costs 200, c 600, a 200, d 200. A budget of 600 takes b, skips c, takes a and d.
    assert.deepEqual(selectPlacements(scores, { rank: 2, budgetParameters: 600 }), ['b', 'a', 'd']);
    assert.deepEqual(selectPlacements(scores, { rank: 2, budgetParameters: 1000 }), ['b', 'c', 'a']);
    assert.throws(() => selectPlacements(scores, { rank: 2, budgetParameters: 100 }), /fits no placement/);
  });

  it('trains only the chosen placements, and the PEFT export names exactly them and loads back the same', async () => {
    const placements = ['h.0.mlp.c_fc', 'h.2.attn.c_attn'];
    const result = await train({
      model,
      data: records,
      hyperparameters: { ...H, rank: 4, alpha: 8, maxSteps: 6, learningRate: 2e-2, validationFraction: 0, placements },
      threads: 1,
    });
    assert.deepEqual([...result.adapter.factors.keys()].sort(), placements);
    assert.deepEqual([...result.adapter.targetModules].sort(), ['attn.c_attn', 'mlp.c_fc']);
    assert.ok(
      [...result.adapter.factors.values()].every((f) => f.b.some((v) => v !== 0)),
      'each placed B moved off zero',
    );

    const config = result.peft.config;
    assert.equal(config.layers_to_transform, undefined);
    const pattern = new RegExp(`^(?:${String(config.target_modules)})$`);
    const modulePaths = projectionKeys(CONFIG).map((p) => `transformer.${p.key}`);
    assert.deepEqual(
      modulePaths.filter((path) => pattern.test(path)),
      ['transformer.h.0.mlp.c_fc', 'transformer.h.2.attn.c_attn'],
      'PEFT full-matches the pattern against module paths: exactly the placements',
    );

    const loaded = readPeftAdapter(result.peft);
    const held = domainTexts('recipes', 6, 99).map((text) => ({ text }));
    const direct = await evaluateAdapter(model, result.adapter, held, { threads: 1 });
    const roundTrip = await evaluateAdapter(model, loaded, held, { threads: 1 });
    assert.ok(Math.abs(direct.loss - roundTrip.loss) < 1e-6, `${direct.loss} vs ${roundTrip.loss}`);
  });

  it('refuses placements that are not projections of the model', async () => {
    await assert.rejects(
      train({ model, data: records, hyperparameters: { ...H, maxSteps: 1, placements: ['h.9.mlp.c_fc'] }, threads: 1 }),
      /placement h\.9\.mlp\.c_fc is not a projection/,
    );
  });
});
