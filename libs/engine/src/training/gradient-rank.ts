/**
 * Singular values and effective rank of a small-by-wide matrix, in plain TypeScript (Float64):
 * what placement probing scores a projection's accumulated gradient by. The matrix is m × n with
 * m the small side (a LoRA sketch's rank); its singular values are the square roots of the
 * eigenvalues of the m × m Gram matrix M·Mᵀ, found by cyclic Jacobi rotations.
 */

/** Singular values of `matrix` [rows, cols], row-major, largest first (rows should be the small side). */
export function singularValues(matrix: Float32Array, rows: number, cols: number): number[] {
  if (matrix.length !== rows * cols) throw new Error(`singularValues: ${matrix.length} values for ${rows}×${cols}`);
  const gram = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let j = i; j < rows; j++) {
      let sum = 0;
      for (let k = 0; k < cols; k++) sum += matrix[i * cols + k]! * matrix[j * cols + k]!;
      gram[i * rows + j] = sum;
      gram[j * rows + i] = sum;
    }
  }
  return symmetricEigenvalues(gram, rows)
    .map((value) => Math.sqrt(Math.max(value, 0)))
    .sort((a, b) => b - a);
}

/**
 * Eigenvalues of a symmetric n × n matrix by cyclic Jacobi sweeps until the off-diagonal mass is
 * negligible (quadratic convergence; a few sweeps for the n ≤ 64 used here).
 */
export function symmetricEigenvalues(symmetric: Float64Array, n: number): number[] {
  const a = Float64Array.from(symmetric);
  let total = 0;
  for (const value of a) total += value * value;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i * n + j]! ** 2;
    if (off <= 1e-24 * Math.max(total, 1e-300)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        // The rotation that zeroes a[p][q] (Golub & Van Loan, Algorithm 8.4.1).
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // Columns p and q, then rows p and q (flat indices: n(n − 1)/2 rotations a sweep, per score).
        for (let kp = p, kq = q; kp < n * n; kp += n, kq += n) {
          const akp = a[kp]!;
          const akq = a[kq]!;
          a[kp] = c * akp - s * akq;
          a[kq] = s * akp + c * akq;
        }
        for (let pk = p * n, qk = q * n, end = p * n + n; pk < end; pk++, qk++) {
          const apk = a[pk]!;
          const aqk = a[qk]!;
          a[pk] = c * apk - s * aqk;
          a[qk] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => a[i * n + i]!);
}

/**
 * Effective rank (Roy & Vetterli, 2007): exp of the entropy of the normalised singular values.
 * 1 for a rank-one matrix, k for k equal singular values, between otherwise; 0 for a zero matrix.
 */
export function effectiveRank(values: readonly number[]): number {
  const total = values.reduce((sum, v) => sum + v, 0);
  if (total <= 0) return 0;
  let entropy = 0;
  for (const v of values) {
    const p = v / total;
    if (p > 0) entropy -= p * Math.log(p);
  }
  return Math.exp(entropy);
}
