import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spearman } from './spearman.mjs';

describe('spearman', () => {
  it('is 1 for the same order, −1 for the reverse, whatever the scale', () => {
    assert.equal(spearman([1, 2, 3, 4], [10, 200, 3000, 40000]), 1);
    assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  });

  it('matches a hand-computed case with a tie (average ranks, then Pearson of the ranks)', () => {
    // x ranks [1, 2.5, 2.5, 4], y ranks [2, 1, 4, 3]; deviations from 2.5: Σdx·dy = 1.5,
    // Σdx² = 4.5, Σdy² = 5, so ρ = 1.5 / √22.5 = 0.316228.
    const rho = spearman([1, 2, 2, 3], [20, 10, 40, 30]);
    assert.ok(Math.abs(rho - 0.3162278) < 1e-6, String(rho));
  });
});
