import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomWeights, TINY_GPT2 } from '../testing/random.js';
import { domainTexts } from '../testing/synthetic-domains.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { trainLongRange } from './long-range.js';

const CONFIG = TINY_GPT2;

describe('long-range adapters (engine experiment)', () => {
  it('training them lowers the held-out loss from the base model, and counts 2·d·r parameters per pair', async () => {
    const model = { name: 'tiny', config: CONFIG, weights: randomWeights(CONFIG, 5), tokenizer: new ByteTokenizer() };
    const result = await trainLongRange({
      model,
      data: domainTexts('recipes', 24, 1).map((text) => ({ text })),
      validation: domainTexts('recipes', 8, 901).map((text) => ({ text })),
      pairs: [
        { from: 0, to: 2 },
        { from: 1, to: 1 },
      ],
      hyperparameters: { rank: 4, alpha: 8, learningRate: 1e-2, batchSize: 4, maxSequenceLength: 48, maxSteps: 15 },
      threads: 1,
    });
    assert.equal(result.parameters, 2 * 2 * 32 * 4);
    assert.equal(result.metrics.steps, 15);
    const { validationLoss, initialValidationLoss } = result.metrics;
    assert.ok(
      validationLoss! < initialValidationLoss! - 0.05,
      `held-out loss ${validationLoss} vs the base model's ${initialValidationLoss}`,
    );
  });
});
