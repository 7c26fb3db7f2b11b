import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdamW, learningRateAt } from './optimizer.js';

const close = (actual: number, expected: number, what: string) =>
  assert.ok(
    Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs ${expected}`,
  );

describe('learning-rate schedule (transformers get_cosine_schedule_with_warmup / cosine_with_min_lr)', () => {
  // Peak 1e-3, 3 warmup steps of 10. Optimizer step s reads lr_lambda(s): s/3 while warming
  // up, then ½(1 + cos(π·(s − 3)/7)). The cosines of kπ/7, k = 1..6, by hand.
  const cosines = [0.9009688679024191, 0.6234898018587336, 0.2225209339563144];
  const half = (c: number) => 0.5 * (1 + c);
  const expected = [
    0,
    1e-3 / 3,
    2e-3 / 3,
    1e-3,
    1e-3 * half(cosines[0]!),
    1e-3 * half(cosines[1]!),
    1e-3 * half(cosines[2]!),
    1e-3 * half(-cosines[2]!),
    1e-3 * half(-cosines[1]!),
    1e-3 * half(-cosines[0]!),
  ];

  it('warms up from 0 at the first step (not one step ahead), then decays along a cosine towards 0', () => {
    const schedule = { peak: 1e-3, warmupSteps: 3, totalSteps: 10 };
    expected.forEach((lr, step) => close(learningRateAt(step, schedule), lr, `step ${step}`));
    // The values at the steps a run takes: 1e-3 · [0, .333, .667, 1, .9505, .8117, .6113, .3887, .1883, .0495].
    close(learningRateAt(9, schedule), 4.951556604879043e-5, 'last step');
  });

  it('with a floor (min_lr_rate), decays towards min_lr_rate · peak instead: floor + (1 − floor) · cosine', () => {
    const schedule = { peak: 1e-3, warmupSteps: 3, totalSteps: 10, minRatio: 0.1 };
    expected.forEach((lr, step) => {
      // Warmup is unchanged by the floor; after it, every factor f becomes 0.1 + 0.9·f.
      const floored = step < 3 ? lr : 1e-3 * (0.1 + 0.9 * (lr / 1e-3));
      close(learningRateAt(step, schedule), floored, `step ${step}`);
    });
    close(learningRateAt(9, schedule), 1.4456400944391139e-4, 'last step');
    close(learningRateAt(10, schedule), 1e-4, 'the end of the schedule');
  });

  it('without warmup the first step runs at the peak', () => {
    close(learningRateAt(0, { peak: 2e-3, warmupSteps: 0, totalSteps: 5 }), 2e-3, 'step 0');
  });
});

describe('AdamW', () => {
  it('uses its β₁, β₂ and ε: two steps by hand', () => {
    // β₁ = ½, β₂ = ¾, ε = 0.1, lr 0.1; gradients 0.5 then −1.
    // Step 1: m = 0.25, v = 0.0625, m̂ = 0.5, v̂ = 0.25 → p = 1 − 0.1 · 0.5/(0.5 + 0.1) = 11/12.
    // Step 2: m = −0.375, v = 0.296875, m̂ = −0.5, v̂ = 19/28 → p = 11/12 + 0.05/(√(19/28) + 0.1).
    const adam = new AdamW({ beta1: 0.5, beta2: 0.75, epsilon: 0.1, weightDecay: 0 });
    const params = new Map([['w', Float32Array.of(1)]]);
    adam.update(params, new Map([['w', Float32Array.of(0.5)]]), 0.1);
    assert.ok(Math.abs(params.get('w')![0]! - 11 / 12) < 1e-6);
    adam.update(params, new Map([['w', Float32Array.of(-1)]]), 0.1);
    assert.ok(Math.abs(params.get('w')![0]! - (11 / 12 + 0.05 / (Math.sqrt(19 / 28) + 0.1))) < 1e-6);
  });
});
