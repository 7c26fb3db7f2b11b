// Plain TypeScript reference of every numeric op the graphs use: slow, obvious, and what
// the ONNX graphs are checked against. Row-major Float32Arrays; shapes in comments.

/** a: [m, k] · b: [k, n] → [m, n] */
export function matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p]!;
      if (aip === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += aip * b[p * n + j]!;
    }
  }
  return out;
}

/** x: [rows, n] + bias: [n], in place. */
export function addBias(x: Float32Array, bias: Float32Array): Float32Array {
  const n = bias.length;
  for (let i = 0; i < x.length; i++) x[i]! += bias[i % n]!;
  return x;
}

export function add(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i]!);
}

/** Over the last axis of x: [rows, n]. */
export function layerNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, eps: number): Float32Array {
  const n = gamma.length;
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let mean = 0;
    for (let j = 0; j < n; j++) mean += x[r * n + j]!;
    mean /= n;
    let variance = 0;
    for (let j = 0; j < n; j++) variance += (x[r * n + j]! - mean) ** 2;
    variance /= n;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let j = 0; j < n; j++) out[r * n + j] = (x[r * n + j]! - mean) * inv * gamma[j]! + beta[j]!;
  }
  return out;
}

/**
 * GELU as ONNX Gelu computes it: exact 0.5·x·(1 + erf(x/√2)) (approximate="none"), or
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (approximate="tanh", GPT-2's "gelu_new").
 */
export function gelu(x: Float32Array, form: 'exact' | 'tanh' = 'exact'): Float32Array {
  if (form === 'tanh') return x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
  return x.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
}

/** Abramowitz–Stegun 7.1.26 is too coarse for a 1e-4 check; this series/continued fraction is not. */
export function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  if (a < 2.5) {
    // Maclaurin series: converges fast for small |x|.
    let term = a;
    let sum = a;
    for (let n = 1; n < 60; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
      if (Math.abs(term) < 1e-17) break;
    }
    return sign * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // Continued fraction for erfc at larger |x|.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (a + f);
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f);
  return sign * (1 - erfc);
}

/** Softmax over the last axis of x: [rows, n]. */
export function softmax(x: Float32Array, n: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[r * n + j]!);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += out[r * n + j] = Math.exp(x[r * n + j]! - max);
    for (let j = 0; j < n; j++) out[r * n + j]! /= sum;
  }
  return out;
}

/** Over the last axis of x: [rows, n]: x / √(mean(x²) + ε) · w. */
export function rmsNorm(x: Float32Array, w: Float32Array, eps: number): Float32Array {
  const n = w.length;
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let meanSquare = 0;
    for (let j = 0; j < n; j++) meanSquare += x[r * n + j]! ** 2;
    const inv = 1 / Math.sqrt(meanSquare / n + eps);
    for (let j = 0; j < n; j++) out[r * n + j] = x[r * n + j]! * inv * w[j]!;
  }
  return out;
}

/** SiLU (swish): x · σ(x). */
export function silu(x: Float32Array): Float32Array {
  return x.map((v) => v / (1 + Math.exp(-v)));
}

export function mul(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v * b[i]!);
}

/**
 * Rotary position embedding of one head vector at `position`, in place: pairs (j, j + hd/2)
 * rotate by position · inverseFrequencies[j] (θ^(−2j/hd), maybe rescaled), as Hugging Face's
 * rotate_half does.
 */
export function rotate(
  x: Float32Array,
  offset: number,
  hd: number,
  position: number,
  inverseFrequencies: Float32Array,
): void {
  const half = hd / 2;
  for (let j = 0; j < half; j++) {
    const angle = position * inverseFrequencies[j]!;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const a = x[offset + j]!;
    const b = x[offset + j + half]!;
    x[offset + j] = a * cos - b * sin;
    x[offset + j + half] = b * cos + a * sin;
  }
}
