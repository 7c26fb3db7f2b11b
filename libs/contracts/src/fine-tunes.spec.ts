import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HYPERPARAMETER_DEFAULTS, storedHyperparameters, withHyperparameterDefaults } from './fine-tunes.js';

describe('stored hyperparameters', () => {
  it('read back as stored, so a resumed job trains with what it was created with', () => {
    const created = withHyperparameterDefaults({ adam_beta2: 0.95, min_lr_rate: 0.05, packing: 'cross_document' });
    assert.deepEqual(storedHyperparameters(JSON.parse(JSON.stringify(created))), created);
    assert.equal(withHyperparameterDefaults(undefined).packing, HYPERPARAMETER_DEFAULTS.packing);
  });

  it('a job stored before the optimizer and packing fields existed reads back with what it trained with', () => {
    const added = ['min_lr_rate', 'adam_beta1', 'adam_beta2', 'adam_epsilon', 'packing'];
    const before = Object.fromEntries(
      Object.entries(HYPERPARAMETER_DEFAULTS).filter(([name]) => !added.includes(name)),
    );
    const read = storedHyperparameters(before);
    assert.deepEqual(
      [read.min_lr_rate, read.adam_beta1, read.adam_beta2, read.adam_epsilon, read.packing],
      [0.1, 0.9, 0.999, 1e-8, 'cross_document'],
    );
    assert.throws(() => storedHyperparameters({ ...before, rank: 0 }));
    assert.throws(() => storedHyperparameters(null));
  });
});
