import type { Llama3RopeScaling, LlamaConfig, LlamaFamily, SlidingWindow } from './decoder-config.js';

/**
 * config.json ⇄ LlamaConfig for the model_types that share Llama's maths: llama, qwen2 and
 * mistral. Every field that changes what transformers computes is either read into the
 * config or refused by name; defaults are transformers' for that model_type.
 */
export const LLAMA_FAMILIES = ['llama', 'qwen2', 'mistral'] as const satisfies readonly LlamaFamily[];

export function isLlamaFamily(modelType: unknown): modelType is LlamaFamily {
  return (LLAMA_FAMILIES as readonly unknown[]).includes(modelType);
}

/** transformers' values for fields config.json leaves out, where the families differ. */
const FAMILY_DEFAULTS: Record<LlamaFamily, { kvHeads: number | null; maxPositions: number; windowSize: number }> = {
  // kvHeads null: as many as query heads.
  llama: { kvHeads: null, maxPositions: 2048, windowSize: 0 },
  qwen2: { kvHeads: 32, maxPositions: 32768, windowSize: 4096 },
  mistral: { kvHeads: 8, maxPositions: 131072, windowSize: 4096 },
};

const ARCHITECTURES: Record<LlamaFamily, string> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  mistral: 'MistralForCausalLM',
};

/** The fields of config.json, read with errors that name them. */
class HfFields {
  constructor(private readonly hf: Record<string, unknown>) {}

  int(key: string, fallback?: number): number {
    return this.integerAt(key, this.hf[key] ?? fallback);
  }

  num(key: string, fallback: number): number {
    return this.numberAt(key, this.hf[key] ?? fallback);
  }

  integerAt(key: string, value: unknown): number {
    if (typeof value !== 'number' || !Number.isInteger(value))
      throw new Error(`config.json: ${key} must be an integer, got ${JSON.stringify(value)}`);
    return value;
  }

  numberAt(key: string, value: unknown): number {
    if (typeof value !== 'number')
      throw new Error(`config.json: ${key} must be a number, got ${JSON.stringify(value)}`);
    return value;
  }
}

export function llamaFamilyConfigFromHf(hf: Record<string, unknown>, family: LlamaFamily): LlamaConfig {
  const fields = new HfFields(hf);
  if ((hf.hidden_act ?? 'silu') !== 'silu')
    throw new Error(`config.json: hidden_act ${String(hf.hidden_act)} is not supported (silu)`);
  // Only LlamaConfig reads these; Qwen2 and Mistral fix their biases in code.
  if (family === 'llama' && hf.attention_bias === true)
    throw new Error('config.json: attention_bias true is not supported (biases on q/k/v/o projections)');
  if (family === 'llama' && hf.mlp_bias === true) throw new Error('config.json: mlp_bias true is not supported');
  const heads = fields.int('num_attention_heads');
  if (hf.head_dim != null && hf.head_dim !== fields.int('hidden_size') / heads)
    throw new Error(`config.json: head_dim ${String(hf.head_dim)} differs from hidden_size / num_attention_heads`);
  const defaults = FAMILY_DEFAULTS[family];
  const nLayers = fields.int('num_hidden_layers');
  const maxPositions = fields.int('max_position_embeddings', defaults.maxPositions);
  const { ropeTheta, ropeScaling } = rotaryFromHf(hf, fields, maxPositions);
  const slidingWindow =
    family === 'mistral' ? mistralWindow(hf, fields) : family === 'qwen2' ? qwen2Window(hf, fields, nLayers) : null;
  return {
    architecture: 'llama',
    ...(family === 'llama' ? {} : { family }),
    vocabSize: fields.int('vocab_size'),
    dModel: fields.int('hidden_size'),
    nLayers,
    nHeads: heads,
    // An explicit null means as many as query heads in every family; a missing field, the family's default.
    nKvHeads: hf.num_key_value_heads === null ? heads : fields.int('num_key_value_heads', defaults.kvHeads ?? heads),
    ffnDim: fields.int('intermediate_size'),
    maxPositions,
    normEps: fields.num('rms_norm_eps', 1e-6),
    ropeTheta,
    ...(ropeScaling ? { ropeScaling } : {}),
    tieEmbeddings: hf.tie_word_embeddings === true,
    ...(family === 'qwen2' ? { qkvBias: true } : {}),
    ...(slidingWindow ? { slidingWindow } : {}),
  };
}

/**
 * rope_theta and scaling from either layout: the older top-level rope_theta + rope_scaling, or
 * the current rope_parameters. transformers prefers a non-empty rope_scaling over
 * rope_parameters, and takes original_max_position_embeddings from the top level first, then
 * the rope dict, then max_position_embeddings.
 */
function rotaryFromHf(
  hf: Record<string, unknown>,
  fields: HfFields,
  maxPositions: number,
): { ropeTheta: number; ropeScaling: Llama3RopeScaling | null } {
  for (const key of ['rope_scaling', 'rope_parameters']) {
    const value = hf[key];
    if (value != null && (typeof value !== 'object' || Array.isArray(value)))
      throw new Error(`config.json: ${key} must be an object`);
  }
  const scalingGiven = hf.rope_scaling != null && Object.keys(hf.rope_scaling as object).length > 0;
  const field = scalingGiven ? 'rope_scaling' : 'rope_parameters';
  const rope = (hf[field] ?? {}) as Record<string, unknown>;
  if (Object.values(rope).some((value) => typeof value === 'object' && value !== null && !Array.isArray(value)))
    throw new Error(`config.json: ${field} per layer type is not supported`);
  const type = rope.rope_type ?? rope.type ?? 'default';
  if (type !== 'default' && type !== 'llama3')
    throw new Error(`config.json: ${field}.rope_type ${String(type)} is not supported (default, llama3)`);
  if (rope.rope_theta !== undefined && typeof rope.rope_theta !== 'number')
    throw new Error(`config.json: ${field}.rope_theta must be a number`);
  if (rope.rope_theta !== undefined && hf.rope_theta !== undefined && rope.rope_theta !== hf.rope_theta)
    throw new Error(`config.json: rope_theta and ${field}.rope_theta differ`);
  for (const [key, value] of [
    ['partial_rotary_factor', hf.partial_rotary_factor],
    [`${field}.partial_rotary_factor`, rope.partial_rotary_factor],
  ] as const) {
    if (value != null && value !== 1) throw new Error(`config.json: ${key} ${String(value)} is not supported (1)`);
  }
  const ropeTheta = typeof rope.rope_theta === 'number' ? rope.rope_theta : fields.num('rope_theta', 10000);
  if (type === 'default') return { ropeTheta, ropeScaling: null };
  const original = hf.original_max_position_embeddings ?? rope.original_max_position_embeddings ?? maxPositions;
  return {
    ropeTheta,
    ropeScaling: {
      type: 'llama3',
      factor: fields.numberAt(`${field}.factor`, rope.factor),
      lowFreqFactor: fields.numberAt(`${field}.low_freq_factor`, rope.low_freq_factor),
      highFreqFactor: fields.numberAt(`${field}.high_freq_factor`, rope.high_freq_factor),
      originalMaxPositions: fields.integerAt(`${field}.original_max_position_embeddings`, original),
    },
  };
}

/** Mistral slides every layer; a missing sliding_window is transformers' default 4096, null is none. */
function mistralWindow(hf: Record<string, unknown>, fields: HfFields): SlidingWindow | null {
  // MistralModel ignores layer_types (alternating layers are Ministral's): refuse rather than guess.
  if (hf.layer_types != null) throw new Error('config.json: layer_types is not supported for mistral');
  const size = 'sliding_window' in hf ? hf.sliding_window : FAMILY_DEFAULTS.mistral.windowSize;
  return size === null ? null : { size: fields.integerAt('sliding_window', size), fromLayer: 0 };
}

/**
 * Qwen2 slides only with use_sliding_window, and only layers i ≥ max_window_layers — or those
 * layer_types names "sliding_attention", which must then be the last layers.
 */
function qwen2Window(hf: Record<string, unknown>, fields: HfFields, nLayers: number): SlidingWindow | null {
  const use = hf.use_sliding_window ?? false;
  if (typeof use !== 'boolean') throw new Error('config.json: use_sliding_window must be true or false');
  const rawSize = 'sliding_window' in hf ? hf.sliding_window : FAMILY_DEFAULTS.qwen2.windowSize;
  const size = use && rawSize !== null ? fields.integerAt('sliding_window', rawSize) : null;
  let fromLayer: number;
  if (hf.layer_types == null) {
    fromLayer = size === null ? nLayers : fields.int('max_window_layers', 28);
  } else {
    const types = hf.layer_types;
    if (
      !Array.isArray(types) ||
      types.length !== nLayers ||
      types.some((t) => t !== 'full_attention' && t !== 'sliding_attention')
    )
      throw new Error(
        `config.json: layer_types must list full_attention or sliding_attention for each of ${nLayers} layers`,
      );
    fromLayer = types.indexOf('sliding_attention');
    if (fromLayer === -1) fromLayer = nLayers;
    else if (types.slice(fromLayer).some((t) => t !== 'sliding_attention'))
      throw new Error('config.json: layer_types with full-attention layers after sliding ones is not supported');
    else if (size === null)
      throw new Error(
        'config.json: layer_types has sliding_attention layers but use_sliding_window or sliding_window does not set a window',
      );
  }
  return size !== null && fromLayer < nLayers ? { size, fromLayer: Math.max(0, fromLayer) } : null;
}

/** LlamaConfig → config.json as transformers writes it for the family. */
export function hfLlamaFamilyConfigOf(config: LlamaConfig): Record<string, unknown> {
  const family = config.family ?? 'llama';
  const window = config.slidingWindow ?? null;
  const scaling = config.ropeScaling ?? null;
  return {
    model_type: family,
    architectures: [ARCHITECTURES[family]],
    vocab_size: config.vocabSize,
    hidden_size: config.dModel,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    intermediate_size: config.ffnDim,
    max_position_embeddings: config.maxPositions,
    rms_norm_eps: config.normEps,
    rope_theta: config.ropeTheta,
    ...(scaling
      ? {
          rope_scaling: {
            rope_type: scaling.type,
            factor: scaling.factor,
            low_freq_factor: scaling.lowFreqFactor,
            high_freq_factor: scaling.highFreqFactor,
            original_max_position_embeddings: scaling.originalMaxPositions,
          },
        }
      : {}),
    ...(family === 'qwen2'
      ? {
          use_sliding_window: window !== null,
          sliding_window: window?.size ?? null,
          max_window_layers: window?.fromLayer ?? config.nLayers,
        }
      : {}),
    ...(family === 'mistral' ? { sliding_window: window?.size ?? null } : {}),
    hidden_act: 'silu',
    tie_word_embeddings: config.tieEmbeddings,
    torch_dtype: 'float32',
  };
}
