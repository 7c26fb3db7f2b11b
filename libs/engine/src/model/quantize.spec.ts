import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dequantize, quantizationBlockSize, quantizeColumns } from './quantize.js';

describe('block-wise quantization (MatMulNBits layout)', () => {
  // One column of one block of 16: W[:, 0] = the values below (K = 16, N = 1, block 16).
  const column = Float32Array.from([
    0.62, -1.6, 0.2, 0, 1.1, -0.3, 0.05, 0.9, -0.8, 0.4, 0.6, -1.2, 0.1, 0.3, -0.46, 1.58,
  ]);

  it('int4: the largest-magnitude value maps to −8 exactly, two values a byte, even input in the low nibble', () => {
    const m = quantizeColumns(16, 1, 4, () => column, 16);
    // extreme −1.6 → scale = −1.6 / −8 = 0.2; 0.62 / 0.2 = 3.1 → 3 (+8 = 11); −1.6 / 0.2 = −8 (+8 = 0).
    assert.equal(m.scales[0], Math.fround(0.2));
    assert.equal(m.data[0], 11 | (0 << 4));
    // 0.2 → 1 (+8 = 9); 0 → 0 (+8 = 8): byte 9 | 8 << 4.
    assert.equal(m.data[1], 9 | (8 << 4));
    // 1.58 / 0.2 = 7.9 → 8, clamped to 7 (+8 = 15) in the high nibble of the last byte; −0.46 → −2.3 → −2 (+8 = 6).
    assert.equal(m.data[7], 6 | (15 << 4));
    const w = dequantize(m);
    assert.equal(w[1], Math.fround(-8 * Math.fround(0.2)));
    assert.equal(w[15], Math.fround(7 * Math.fround(0.2)));
  });

  it('int8: ±absmax maps to ±127 with zero point 128; error at most half a step', () => {
    const m = quantizeColumns(16, 1, 8, () => column, 16);
    const step = Math.fround(1.6 / 127);
    assert.equal(m.scales[0], step);
    assert.equal(m.data[1], 128 - 127);
    const w = dequantize(m);
    for (let i = 0; i < 16; i++) assert.ok(Math.abs(w[i]! - column[i]!) <= step / 2 + 1e-7, `value ${i}`);
  });

  it('blocks 64 inputs where K allows, else 32, else leaves the matrix unquantized', () => {
    assert.deepEqual([2048, 5632, 96, 48].map(quantizationBlockSize), [64, 64, 32, null]);
  });

  it('lays out W [K, N] by output column: column j of the matrix is the j-th callback', () => {
    const k = 32;
    const columns = [0, 1, 2].map((j) => Float32Array.from({ length: k }, (_, i) => (i - 16) * (j + 1) * 0.01));
    const w = dequantize(quantizeColumns(k, 3, 8, (j) => columns[j]!, 32));
    for (let j = 0; j < 3; j++)
      for (let i = 0; i < k; i++) assert.ok(Math.abs(w[i * 3 + j]! - columns[j]![i]!) < 0.01 * (j + 1), `${i},${j}`);
  });
});
