/**
 * Weight-only block-wise quantization in ONNX Runtime's MatMulNBits layout (com.microsoft):
 * W [K, N] (y = x·W) is stored by output column, each column cut into blocks of `blockSize`
 * consecutive inputs with one fp32 scale per block and no zero-point tensor, so the
 * operator's default zero point 2^(bits-1) applies: w = (q − 2^(bits−1)) · scale.
 * int4 packs two values per byte, the even input in the low nibble.
 *
 * Scales are symmetric: int8 maps ±absmax to ±127; int4 maps the block's largest-magnitude
 * value to −8 exactly (its sign folded into the scale), so the full [−8, 7] range is used.
 */
export type QuantizedBits = 4 | 8;

export interface QuantizedMatrix {
  bits: QuantizedBits;
  /** Inputs (rows of W) and outputs (columns of W). */
  k: number;
  n: number;
  blockSize: number;
  /** [N, K/blockSize, blockSize·bits/8] */
  data: Uint8Array;
  /** [N · K/blockSize] */
  scales: Float32Array;
}

/**
 * The block size for a matrix with K inputs: 64 where K allows (half the scales of 32; MLAS's
 * packed int4 form, which carries per-block scales and sums, was measured 25% smaller: TinyLlama
 * int4 loads in 0.77 GiB instead of 0.96), else 32, else none (the matrix stays fp32).
 */
export function quantizationBlockSize(k: number): number | null {
  return k % 64 === 0 ? 64 : k % 32 === 0 ? 32 : null;
}

/**
 * Quantizes W given column by column: `column(j)` returns W[:, j] (length K). Taking columns
 * lets a caller pass a torch Linear weight [N, K] (whose rows are W's columns) without a transpose.
 */
export function quantizeColumns(
  k: number,
  n: number,
  bits: QuantizedBits,
  column: (j: number) => Float32Array,
  blockSize: number,
): QuantizedMatrix {
  if (k % blockSize !== 0) throw new Error(`quantization: K ${k} is not a multiple of the block size ${blockSize}`);
  const blocks = k / blockSize;
  const bytesPerBlock = (blockSize * bits) / 8;
  const data = new Uint8Array(n * blocks * bytesPerBlock);
  const scales = new Float32Array(n * blocks);
  const offset = 2 ** (bits - 1);
  const q = new Uint8Array(blockSize);
  for (let j = 0; j < n; j++) {
    const values = column(j);
    for (let b = 0; b < blocks; b++) {
      let extreme = 0;
      for (let i = 0; i < blockSize; i++) {
        const v = values[b * blockSize + i]!;
        if (Math.abs(v) > Math.abs(extreme)) extreme = v;
      }
      const scale = bits === 8 ? Math.abs(extreme) / 127 : extreme / -8;
      const stored = Math.fround(scale);
      scales[j * blocks + b] = stored;
      const inverse = stored === 0 ? 0 : 1 / stored;
      for (let i = 0; i < blockSize; i++) {
        const level = Math.round(values[b * blockSize + i]! * inverse);
        q[i] = Math.min(offset - 1, Math.max(-offset, level)) + offset;
      }
      const at = (j * blocks + b) * bytesPerBlock;
      if (bits === 8) data.set(q, at);
      else for (let i = 0; i < blockSize; i += 2) data[at + i / 2] = q[i]! | (q[i + 1]! << 4);
    }
  }
  return { bits, k, n, blockSize, data, scales };
}

/** The fp32 W [K, N] a quantized matrix stands for: the reference MatMulNBits is checked against. */
export function dequantize(m: QuantizedMatrix): Float32Array {
  const blocks = m.k / m.blockSize;
  const bytesPerBlock = (m.blockSize * m.bits) / 8;
  const offset = 2 ** (m.bits - 1);
  const w = new Float32Array(m.k * m.n);
  for (let j = 0; j < m.n; j++) {
    for (let b = 0; b < blocks; b++) {
      const scale = m.scales[j * blocks + b]!;
      const at = (j * blocks + b) * bytesPerBlock;
      for (let i = 0; i < m.blockSize; i++) {
        const byte = m.data[at + (m.bits === 8 ? i : i >> 1)]!;
        const level = m.bits === 8 ? byte : i % 2 === 0 ? byte & 0x0f : byte >> 4;
        w[(b * m.blockSize + i) * m.n + j] = Math.fround((level - offset) * scale);
      }
    }
  }
  return w;
}
