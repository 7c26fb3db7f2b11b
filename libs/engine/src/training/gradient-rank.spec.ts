import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../seeded-random.js';
import { effectiveRank, singularValues } from './gradient-rank.js';

const close = (actual: number, expected: number, tolerance = 1e-6) =>
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${actual} ≠ ${expected}`);

describe('gradient rank', () => {
  it('finds the singular values of a matrix built from known ones (U·diag·Vᵀ with a permutation and signs)', () => {
    // Rows are scaled, signed, permuted unit vectors: singular values are the scales.
    const rows = 3;
    const cols = 5;
    const m = new Float32Array(rows * cols);
    m[0 * cols + 3] = -2;
    m[1 * cols + 0] = 5;
    m[2 * cols + 4] = 0.5;
    assert.deepEqual(
      singularValues(m, rows, cols).map((v) => Number(v.toFixed(6))),
      [5, 2, 0.5],
    );
  });

  it('agrees with the closed form for a random 2 × n matrix', () => {
    const random = seededRandom(4);
    const n = 40;
    const m = Float32Array.from({ length: 2 * n }, () => random() - 0.5);
    // Gram [[a, b], [b, c]]: eigenvalues (a + c)/2 ± √(((a − c)/2)² + b²).
    let a = 0;
    let b = 0;
    let c = 0;
    for (let k = 0; k < n; k++) {
      a += m[k]! * m[k]!;
      b += m[k]! * m[n + k]!;
      c += m[n + k]! * m[n + k]!;
    }
    const mid = (a + c) / 2;
    const spread = Math.sqrt(((a - c) / 2) ** 2 + b * b);
    const [s1, s2] = singularValues(m, 2, n);
    close(s1!, Math.sqrt(mid + spread));
    close(s2!, Math.sqrt(mid - spread));
  });

  it('keeps the Frobenius norm: Σσ² = Σ m²', () => {
    const random = seededRandom(9);
    const m = Float32Array.from({ length: 16 * 50 }, () => random() - 0.5);
    const sumSquares = m.reduce((sum, v) => sum + v * v, 0);
    const values = singularValues(m, 16, 50);
    close(
      values.reduce((sum, v) => sum + v * v, 0),
      sumSquares,
      1e-5,
    );
  });

  it('counts directions: 1 for an outer product, k for k equal singular values, 0 for zeros', () => {
    const random = seededRandom(2);
    const u = Array.from({ length: 8 }, () => random() - 0.5);
    const v = Array.from({ length: 30 }, () => random() - 0.5);
    const outer = Float32Array.from({ length: 8 * 30 }, (_, i) => u[Math.floor(i / 30)]! * v[i % 30]!);
    close(effectiveRank(singularValues(outer, 8, 30)), 1, 1e-3);
    close(effectiveRank([2, 2, 2, 2]), 4);
    assert.equal(effectiveRank(singularValues(new Float32Array(4 * 6), 4, 6)), 0);
    const spread = effectiveRank([4, 1]);
    assert.ok(spread > 1 && spread < 2);
  });
});
