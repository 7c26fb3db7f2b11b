import { transpose } from '../matrix.js';
import { weightShapes, type DecoderConfig, type DecoderWeights } from '../model/decoder-config.js';
import { dequantize } from '../model/quantize.js';
import { embeddingWeightName, HEAD_WEIGHT, projectionWeights, type WeightFile } from '../model/weight-file.js';

/**
 * The weights a weight file stands for, in Hugging Face's layout, quantized matrices
 * dequantized: what the TypeScript reference computes with to check a graph over the file.
 * The output head comes back as lm_head.weight (a quantized head differs from its tied embedding).
 */
export async function referenceWeightsOf(config: DecoderConfig, file: WeightFile): Promise<DecoderWeights> {
  const inOut = async (name: string) => {
    const stored = file.stored(name);
    return stored?.kind === 'nbits' ? dequantize(await file.readQuantized(name)) : file.readFloat32(name);
  };
  const asStored = (w: Float32Array, dIn: number, dOut: number) =>
    config.architecture === 'gpt2' ? w : transpose(w, dIn, dOut);
  const weights: DecoderWeights = new Map();
  const projections = projectionWeights(config);
  for (const name of weightShapes(config).keys()) {
    const projection = projections.get(name);
    if (projection) weights.set(name, asStored(await inOut(projection.stored), ...projection.shape));
    else if (name === embeddingWeightName(config))
      weights.set(name, transpose(await inOut(name), config.dModel, config.vocabSize));
    else if (name !== 'lm_head.weight') weights.set(name, await file.readFloat32(name));
  }
  weights.set('lm_head.weight', transpose(await inOut(HEAD_WEIGHT), config.dModel, config.vocabSize));
  return weights;
}
