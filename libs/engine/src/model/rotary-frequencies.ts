import { headDim, type Llama3RopeScaling, type LlamaConfig } from './decoder-config.js';

const f32 = Math.fround;

/**
 * RoPE's inverse frequencies θ^(−2j/hd), j < hd/2, [hd/2]: what the graph and the reference
 * rotate by. Each step is rounded to float32 where transformers computes in float32 (torch),
 * so angles agree at long positions too: a frequency one ulp off is ~0.01 rad off at 10⁵.
 * `x / tensor` in torch is `reciprocal(tensor) · x`, hence the reciprocals.
 */
export function rotaryInverseFrequencies(config: LlamaConfig): Float32Array {
  const hd = headDim(config);
  const plain = Float32Array.from({ length: hd / 2 }, (_, j) =>
    f32(1 / f32(f32(config.ropeTheta) ** f32((2 * j) / hd))),
  );
  const scaling = config.ropeScaling;
  return scaling ? plain.map((inverse) => llama3Frequency(inverse, scaling)) : plain;
}

/**
 * transformers' `_compute_llama3_parameters` for one frequency: wavelengths shorter than
 * original/highFreqFactor are kept, longer than original/lowFreqFactor are divided by `factor`,
 * and in between it ramps smoothly from one to the other. Its attention scaling is 1: cos and
 * sin are not rescaled, unlike YaRN's.
 */
function llama3Frequency(inverse: number, scaling: Llama3RopeScaling): number {
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions: original } = scaling;
  const wavelength = f32(f32(1 / inverse) * f32(2 * Math.PI));
  if (wavelength < f32(original / highFreqFactor)) return inverse;
  if (wavelength > f32(original / lowFreqFactor)) return f32(inverse / f32(factor));
  const contexts = f32(f32(1 / wavelength) * f32(original)); // original context / wavelength
  const smooth = f32(f32(contexts - f32(lowFreqFactor)) / f32(highFreqFactor - lowFreqFactor));
  return f32(f32(f32(f32(1 - smooth) * inverse) / f32(factor)) + f32(smooth * inverse));
}
