/**
 * Decoder architectures from one config: it drives the graph, the TypeScript reference, the
 * slot pools and checkpoint import. Weights keep Hugging Face's tensor names without the
 * model prefix ("transformer." / "model.") and Hugging Face's layouts.
 */
interface CommonConfig {
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Longest sequence: GPT-2's learned position table; Llama's advertised context. */
  maxPositions: number;
  /** LayerNorm epsilon (GPT-2) or RMSNorm epsilon (Llama). */
  normEps: number;
  /** Element type of weights and activations. fp32 runs everywhere; fp16 is meant for GPU. */
  dtype?: DecoderDType;
}

/** GPT-2 style: LayerNorm, learned positions, GELU MLP of 4·d, tied embeddings. */
export interface Gpt2Config extends CommonConfig {
  architecture: 'gpt2';
  /** Exact GELU (default) or the tanh approximation OpenAI's GPT-2 checkpoints use ("gelu_new"). */
  gelu?: 'exact' | 'tanh';
}

/**
 * Llama style: RMSNorm, rotary positions, SwiGLU MLP, grouped-query attention. Qwen2 and
 * Mistral are this architecture with the optional fields below; absent means Llama's maths.
 */
export interface LlamaConfig extends CommonConfig {
  architecture: 'llama';
  /** The checkpoint's model_type, written back to config.json (default 'llama'). */
  family?: LlamaFamily;
  /** Key/value heads; nHeads is a multiple of it (grouped-query attention). */
  nKvHeads: number;
  ffnDim: number;
  ropeTheta: number;
  /** Llama 3's rescaled rotary frequencies; null or absent: plain RoPE. */
  ropeScaling?: Llama3RopeScaling | null;
  /** Output projection shares the embedding table (no lm_head.weight). */
  tieEmbeddings: boolean;
  /** Biases on q_proj, k_proj and v_proj (Qwen2; never on o_proj or the MLP). */
  qkvBias?: boolean;
  /** Layers from `fromLayer` on see only the last `size` tokens (Mistral: every layer); null or absent: full attention. */
  slidingWindow?: SlidingWindow | null;
}

export type LlamaFamily = 'llama' | 'qwen2' | 'mistral';

/** transformers' rope_type "llama3": low frequencies divided by `factor`, a smooth ramp between. */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  /** The context the model was pretrained on (original_max_position_embeddings). */
  originalMaxPositions: number;
}

/** Query at position i sees key j when i − size < j ≤ i, positions counting the row's own tokens. */
export interface SlidingWindow {
  size: number;
  /** The first layer that slides (Qwen2's max_window_layers); earlier layers attend to everything. */
  fromLayer: number;
}

export type DecoderConfig = Gpt2Config | LlamaConfig;
export type DecoderDType = 'float32' | 'float16';

/** Projections a LoRA pool can target, with Hugging Face's module names. */
export const GPT2_TARGET_MODULES = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
export const LLAMA_TARGET_MODULES = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
] as const;
export type Gpt2TargetModule = (typeof GPT2_TARGET_MODULES)[number];
export type LlamaTargetModule = (typeof LLAMA_TARGET_MODULES)[number];
export type TargetModule = Gpt2TargetModule | LlamaTargetModule;

export function targetModules(config: DecoderConfig): readonly TargetModule[] {
  return targetModulesOf(config.architecture);
}

/** The same by architecture name: what the gateway checks a fine-tune's target_modules against. */
export function targetModulesOf(architecture: DecoderConfig['architecture']): readonly TargetModule[] {
  return architecture === 'gpt2' ? GPT2_TARGET_MODULES : LLAMA_TARGET_MODULES;
}

/** `h` (GPT-2) or `layers` (Llama): the prefix of per-layer tensor names. */
export function layerPrefix(config: DecoderConfig): string {
  return config.architecture === 'gpt2' ? 'h' : 'layers';
}

/** The key of one layer's projection: `h.3.attn.c_attn`, `layers.0.self_attn.q_proj`. */
export function projectionKey(config: DecoderConfig, layer: number, module: TargetModule): string {
  return `${layerPrefix(config)}.${layer}.${module}`;
}

/** Every projection an adapter can sit on, layer by layer: the candidates of a placement. */
export function projectionKeys(config: DecoderConfig): { key: string; layer: number; module: TargetModule }[] {
  return Array.from({ length: config.nLayers }, (_, layer) =>
    targetModules(config).map((module) => ({ key: projectionKey(config, layer, module), layer, module })),
  ).flat();
}

/** A projection key's parts (`<prefix>.<layer>.<module>`), unchecked against any model; null when it has not that form. */
export function parseProjectionKey(key: string): { prefix: string; layer: number; module: string } | null {
  const match = /^([a-z]+)\.(\d+)\.(.+)$/.exec(key);
  return match ? { prefix: match[1]!, layer: Number(match[2]), module: match[3]! } : null;
}

export function headDim(config: DecoderConfig): number {
  return config.dModel / config.nHeads;
}

export function kvHeads(config: DecoderConfig): number {
  return config.architecture === 'llama' ? config.nKvHeads : config.nHeads;
}

export function ffnDim(config: DecoderConfig): number {
  return config.architecture === 'llama' ? config.ffnDim : 4 * config.dModel;
}

/** Whether a projection adds a bias: all of GPT-2's; Qwen2's q, k and v; none of Llama's. */
export function hasBias(config: DecoderConfig, module: TargetModule): boolean {
  if (config.architecture === 'gpt2') return true;
  return !!config.qkvBias && QKV_MODULES.includes(module);
}
const QKV_MODULES: readonly TargetModule[] = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'];

/** The tokens a layer's queries look back over (themselves included), or null for the whole context. */
export function attentionWindow(config: DecoderConfig, layer: number): number | null {
  if (config.architecture !== 'llama' || !config.slidingWindow) return null;
  return layer >= config.slidingWindow.fromLayer ? config.slidingWindow.size : null;
}

/** Everything that makes a config unusable, in words. */
export function configProblems(config: DecoderConfig): string[] {
  const problems: string[] = [];
  for (const key of ['vocabSize', 'dModel', 'nLayers', 'nHeads', 'maxPositions'] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 1)
      problems.push(`${key} must be a positive integer, got ${config[key]}`);
  }
  if (config.dModel % config.nHeads !== 0)
    problems.push(`dModel ${config.dModel} is not divisible by nHeads ${config.nHeads}`);
  if (config.architecture === 'llama') {
    if (!Number.isInteger(config.nKvHeads) || config.nKvHeads < 1 || config.nHeads % config.nKvHeads !== 0) {
      problems.push(`nHeads ${config.nHeads} is not a multiple of nKvHeads ${config.nKvHeads}`);
    }
    if (headDim(config) % 2 !== 0)
      problems.push(`rotary positions need an even head dimension, got ${headDim(config)}`);
    problems.push(...llamaFamilyProblems(config));
  }
  if (config.dtype && config.dtype !== 'float32' && config.dtype !== 'float16')
    problems.push(`dtype ${String(config.dtype)} is not float32 or float16`);
  return problems;
}

/** What config.json cannot say for the family, and scaling or windows that make no sense. */
function llamaFamilyProblems(config: LlamaConfig): string[] {
  const problems: string[] = [];
  const family = config.family ?? 'llama';
  if (!['llama', 'qwen2', 'mistral'].includes(family)) problems.push(`family ${family} is not llama, qwen2 or mistral`);
  if (!!config.qkvBias !== (family === 'qwen2'))
    problems.push(`qkvBias ${!!config.qkvBias} does not fit family ${family} (only qwen2 has q/k/v biases)`);
  const window = config.slidingWindow;
  if (window) {
    if (family === 'llama') problems.push('family llama has no sliding window');
    if (!Number.isInteger(window.size) || window.size < 1)
      problems.push(`slidingWindow.size must be a positive integer, got ${window.size}`);
    if (!Number.isInteger(window.fromLayer) || window.fromLayer < 0 || window.fromLayer >= config.nLayers)
      problems.push(`slidingWindow.fromLayer must be a layer of the model, got ${window.fromLayer}`);
    if (family === 'mistral' && window.fromLayer !== 0) problems.push('mistral slides every layer (fromLayer 0)');
  }
  const scaling = config.ropeScaling;
  if (scaling) {
    if (scaling.type !== 'llama3') problems.push(`ropeScaling.type ${String(scaling.type)} is not llama3`);
    if (!(scaling.factor >= 1)) problems.push(`ropeScaling.factor must be at least 1, got ${scaling.factor}`);
    if (!(scaling.lowFreqFactor > 0 && scaling.highFreqFactor > scaling.lowFreqFactor))
      problems.push(
        `ropeScaling needs 0 < lowFreqFactor < highFreqFactor, got ${scaling.lowFreqFactor} and ${scaling.highFreqFactor}`,
      );
    if (!Number.isInteger(scaling.originalMaxPositions) || scaling.originalMaxPositions < 1)
      problems.push(`ropeScaling.originalMaxPositions must be a positive integer, got ${scaling.originalMaxPositions}`);
  }
  return problems;
}

/**
 * [dIn, dOut] of each targetable projection, as the engine computes it (y = x·W with W
 * [dIn, dOut]; Llama's torch Linear weights [dOut, dIn] are transposed when graphs are built).
 */
export function projectionShape(config: DecoderConfig, module: TargetModule): [number, number] {
  const d = config.dModel;
  const kv = kvHeads(config) * headDim(config);
  const ffn = ffnDim(config);
  switch (module) {
    case 'attn.c_attn':
      return [d, 3 * d];
    case 'attn.c_proj':
    case 'self_attn.q_proj':
    case 'self_attn.o_proj':
      return [d, d];
    case 'self_attn.k_proj':
    case 'self_attn.v_proj':
      return [d, kv];
    case 'mlp.c_fc':
    case 'mlp.gate_proj':
    case 'mlp.up_proj':
      return [d, ffn];
    case 'mlp.c_proj':
    case 'mlp.down_proj':
      return [ffn, d];
  }
}

/** Weights by Hugging Face tensor name (model prefix dropped), Hugging Face layout. */
export type DecoderWeights = Map<string, Float32Array>;

/** Every weight the config needs, with its shape as Hugging Face stores it. */
export function weightShapes(config: DecoderConfig): Map<string, number[]> {
  return config.architecture === 'gpt2' ? gpt2WeightShapes(config) : llamaWeightShapes(config);
}

function gpt2WeightShapes(config: Gpt2Config): Map<string, number[]> {
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
    // Conv1D layout: [in, out].
    for (const module of GPT2_TARGET_MODULES) {
      const [dIn, dOut] = projectionShape(config, module);
      shapes.set(`h.${i}.${module}.weight`, [dIn, dOut]);
      shapes.set(`h.${i}.${module}.bias`, [dOut]);
    }
  }
  return shapes;
}

function llamaWeightShapes(config: LlamaConfig): Map<string, number[]> {
  const d = config.dModel;
  const shapes = new Map<string, number[]>([
    ['embed_tokens.weight', [config.vocabSize, d]],
    ['norm.weight', [d]],
  ]);
  if (!config.tieEmbeddings) shapes.set('lm_head.weight', [config.vocabSize, d]);
  for (let i = 0; i < config.nLayers; i++) {
    shapes.set(`layers.${i}.input_layernorm.weight`, [d]);
    shapes.set(`layers.${i}.post_attention_layernorm.weight`, [d]);
    // torch Linear layout: [out, in]; biases only where the family has them.
    for (const module of LLAMA_TARGET_MODULES) {
      const [dIn, dOut] = projectionShape(config, module);
      shapes.set(`layers.${i}.${module}.weight`, [dOut, dIn]);
      if (hasBias(config, module)) shapes.set(`layers.${i}.${module}.bias`, [dOut]);
    }
  }
  return shapes;
}
