import { weightShapes, type DecoderConfig, type DecoderWeights } from '../model/decoder-config.js';
import { seededRandom } from '../seeded-random.js';

export { seededRandom };

/** Uniform values in [-scale, scale). */
export function randomArray(random: () => number, length: number, scale: number): Float32Array {
  return Float32Array.from({ length }, () => (random() * 2 - 1) * scale);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/**
 * Random weights for any config, norms included (gains around 1), at a scale that keeps
 * activations O(1), so a wrong op shows up as a large difference.
 */
export function randomWeights(config: DecoderConfig, seed: number, scale = 0.15): DecoderWeights {
  const random = seededRandom(seed);
  const weights: DecoderWeights = new Map();
  for (const [name, shape] of weightShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const isNorm = /(ln_|norm)[^.]*\.(weight|bias)$/.test(name);
    const data = randomArray(random, size, isNorm ? 0.5 : scale);
    if (isNorm && name.endsWith('.weight')) for (let i = 0; i < size; i++) data[i]! += 1;
    weights.set(name, data);
  }
  return weights;
}

/** A small GPT-2 for tests that train (placement probing, long-range adapters). */
export const TINY_GPT2: DecoderConfig = {
  architecture: 'gpt2',
  vocabSize: 257,
  dModel: 32,
  nLayers: 3,
  nHeads: 2,
  maxPositions: 64,
  normEps: 1e-5,
  gelu: 'tanh',
};

/** The small Llama the platform's tests register as an imported base model (vocab 262 fits bpeTokenizerJson). */
export const TINY_LLAMA: DecoderConfig = {
  architecture: 'llama',
  vocabSize: 262,
  dModel: 32,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  ffnDim: 64,
  maxPositions: 64,
  normEps: 1e-6,
  ropeTheta: 10000,
  tieEmbeddings: false,
};
