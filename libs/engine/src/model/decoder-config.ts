/** GPT-2 style decoder (Llama style follows): one config drives both the graph and the reference. */
export interface DecoderConfig {
  architecture: 'gpt2';
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Longest sequence the learned position table covers. */
  maxPositions: number;
  layerNormEps: number;
}

/** Projections a LoRA pool can target, with Hugging Face's GPT-2 module names. */
export const GPT2_TARGET_MODULES = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
export type Gpt2TargetModule = (typeof GPT2_TARGET_MODULES)[number];

/** [dIn, dOut] of each targetable projection. */
export function projectionShape(config: DecoderConfig, module: Gpt2TargetModule): [number, number] {
  const d = config.dModel;
  switch (module) {
    case 'attn.c_attn':
      return [d, 3 * d];
    case 'attn.c_proj':
      return [d, d];
    case 'mlp.c_fc':
      return [d, 4 * d];
    case 'mlp.c_proj':
      return [4 * d, d];
  }
}

/** Weights by Hugging Face tensor name (GPT-2 Conv1D layout: y = x·W, W is [in, out]). */
export type DecoderWeights = Map<string, Float32Array>;

/** Every weight the config needs, with its shape. */
export function gpt2WeightShapes(config: DecoderConfig): Map<string, number[]> {
  const d = config.dModel;
  const shapes = new Map<string, number[]>([
    ['wte.weight', [config.vocabSize, d]],
    ['wpe.weight', [config.maxPositions, d]],
    ['ln_f.weight', [d]],
    ['ln_f.bias', [d]],
  ]);
  for (let i = 0; i < config.nLayers; i++) {
    for (const norm of ['ln_1', 'ln_2']) {
      shapes.set(`h.${i}.${norm}.weight`, [d]);
      shapes.set(`h.${i}.${norm}.bias`, [d]);
    }
    for (const module of GPT2_TARGET_MODULES) {
      const [dIn, dOut] = projectionShape(config, module);
      shapes.set(`h.${i}.${module}.weight`, [dIn, dOut]);
      shapes.set(`h.${i}.${module}.bias`, [dOut]);
    }
  }
  return shapes;
}
