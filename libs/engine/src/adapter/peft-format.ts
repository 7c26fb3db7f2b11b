import { readSafetensors, writeSafetensors, type NamedTensor } from '../format/safetensors.js';
import { GPT2_TARGET_MODULES, LLAMA_TARGET_MODULES, type TargetModule } from '../model/decoder-config.js';
import { transpose } from '../matrix.js';
import type { LoraAdapter, LoraFactors } from './lora-adapter.js';

/**
 * PEFT's on-disk LoRA format: adapter_config.json + adapter_model.safetensors with tensors
 * `base_model.model.transformer.h.<i>.<module>.lora_A.weight` (GPT-2) or
 * `base_model.model.model.layers.<i>.<module>.lora_A.weight` (Llama), [r, in], and
 * `lora_B.weight` [out, r] (torch Linear layout). The engine keeps A [in, r] and B [r, out],
 * so reading and writing transpose.
 */
export interface PeftAdapterFiles {
  config: Record<string, unknown>;
  weights: Uint8Array;
}

const TENSOR_NAME = /^base_model\.model\.(?:transformer|model)\.((?:h|layers)\.\d+\.[a-z_.]+)\.lora_([AB])\.weight$/;
const ALL_MODULES: readonly TargetModule[] = [...GPT2_TARGET_MODULES, ...LLAMA_TARGET_MODULES];

export function readPeftAdapter(files: PeftAdapterFiles): LoraAdapter {
  const { config } = files;
  if (config.peft_type !== 'LORA')
    throw new Error(`adapter_config.json: peft_type is ${String(config.peft_type)}, only LORA is supported`);
  const { rank, alpha } = peftScaling(config);
  const { tensors } = readSafetensors(files.weights);
  const parts = new Map<string, Partial<LoraFactors>>();
  for (const [name, tensor] of tensors) {
    const match = TENSOR_NAME.exec(name);
    if (!match) throw new Error(`adapter_model.safetensors: unexpected tensor ${name}`);
    if (tensor.dtype !== 'F32') throw new Error(`${name}: dtype ${tensor.dtype}, only F32 adapters are read`);
    const [rows, cols] = tensor.shape;
    if (tensor.shape.length !== 2 || rows === undefined || cols === undefined)
      throw new Error(`${name}: expected a matrix, got shape [${tensor.shape}]`);
    const entry = parts.get(match[1]!) ?? {};
    entry[match[2] === 'A' ? 'a' : 'b'] = transpose(tensor.data as Float32Array, rows, cols);
    parts.set(match[1]!, entry);
  }
  const factors = new Map<string, LoraFactors>();
  for (const [key, { a, b }] of parts) {
    if (!a || !b) throw new Error(`${key}: has lora_${a ? 'A' : 'B'} but not lora_${a ? 'B' : 'A'}`);
    factors.set(key, { a, b });
  }
  const modules = new Set([...factors.keys()].map((key) => key.replace(/^[a-z]+\.\d+\./, '')));
  return { rank, alpha, targetModules: ALL_MODULES.filter((m) => modules.has(m)), factors };
}

/**
 * An adapter_config's rank and α as the engine scales (α/r), read as PEFT reads them; fields
 * that change the maths in ways the engine does not implement are refused by name.
 */
export function peftScaling(config: Record<string, unknown>): { rank: number; alpha: number } {
  const rank = Number(config.r);
  if (!Number.isInteger(rank) || rank < 1)
    throw new Error(`adapter_config.json: r must be a positive integer, got ${String(config.r)}`);
  refuseUnsupportedFields(config);
  // PEFT's LoraConfig default is 8, whatever r is.
  const loraAlpha = Number(config.lora_alpha ?? 8);
  if (!Number.isFinite(loraAlpha))
    throw new Error(`adapter_config.json: lora_alpha must be a number, got ${String(config.lora_alpha)}`);
  // rsLoRA scales by α/√r, which is α·√r over r: the same maths under the engine's α/r.
  return { rank, alpha: config.use_rslora === true ? loraAlpha * Math.sqrt(rank) : loraAlpha };
}

/**
 * Fields that change an adapter's maths and that the engine does not implement: refused by
 * name rather than read differently from PEFT (an empty pattern or a false flag is the default).
 */
function refuseUnsupportedFields(config: Record<string, unknown>): void {
  const set = (key: string) => {
    const value = config[key];
    if (value === undefined || value === null || value === false) return false;
    if (Array.isArray(value)) return value.length > 0;
    if (typeof value === 'object') return Object.keys(value).length > 0;
    return true;
  };
  const refused = ['alpha_pattern', 'rank_pattern', 'use_dora', 'modules_to_save', 'lora_bias'].filter(set);
  if (refused.length)
    throw new Error(
      `adapter_config.json: ${refused.join(', ')} ${refused.length > 1 ? 'are' : 'is'} not supported (per-module alpha or rank, DoRA, saved modules, LoRA biases)`,
    );
}

/** `metadata` goes into the safetensors header beside PEFT's `format: pt` (composition artifacts keep r and α there). */
export function writePeftAdapter(
  adapter: LoraAdapter,
  baseModel: string,
  metadata: Record<string, string> = {},
): PeftAdapterFiles {
  const tensors = new Map<string, NamedTensor>();
  const gpt2 = [...adapter.factors.keys()].some((key) => key.startsWith('h.'));
  for (const [key, { a, b }] of adapter.factors) {
    const dIn = a.length / adapter.rank;
    const dOut = b.length / adapter.rank;
    const prefix = `base_model.model.${gpt2 ? 'transformer' : 'model'}.${key}`;
    tensors.set(`${prefix}.lora_A.weight`, {
      dtype: 'F32',
      shape: [adapter.rank, dIn],
      data: transpose(a, dIn, adapter.rank),
    });
    tensors.set(`${prefix}.lora_B.weight`, {
      dtype: 'F32',
      shape: [dOut, adapter.rank],
      data: transpose(b, adapter.rank, dOut),
    });
  }
  return {
    config: {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: baseModel,
      r: adapter.rank,
      lora_alpha: adapter.alpha,
      lora_dropout: 0,
      bias: 'none',
      // GPT-2's Conv1D stores weights as [in, out]; PEFT needs to know to merge them right.
      fan_in_fan_out: gpt2,
      ...peftTargets([...adapter.factors.keys()]),
      inference_mode: true,
    },
    weights: writeSafetensors(tensors, { format: 'pt', ...metadata }),
  };
}

/**
 * Where PEFT should wrap an adapter holding factors for these projection keys (`h.2.mlp.c_fc`).
 * Modules × layers when the keys fill that product: module names by suffix ("c_proj" covers
 * attn.c_proj and mlp.c_proj) and the layers that hold factors. A per-layer placement that is no
 * such product (a placement probe's choice) is a regular expression PEFT full-matches against
 * module paths, naming exactly the adapted projections.
 */
export function peftTargets(keys: readonly string[]): Record<string, unknown> {
  const gpt2 = keys.some((key) => key.startsWith('h.'));
  const prefix = gpt2 ? 'h' : 'layers';
  const modulesOfKeys = [...new Set(keys.map((key) => key.split('.').slice(2).join('.')))];
  const suffixes = [...new Set(modulesOfKeys.map((m) => m.split('.').at(-1)!))];
  const layers = [...new Set(keys.map((key) => Number(key.split('.')[1])))].sort((a, b) => a - b);
  const modules = (gpt2 ? GPT2_TARGET_MODULES : LLAMA_TARGET_MODULES).filter((m) =>
    suffixes.includes(m.split('.').at(-1)!),
  );
  const held = new Set(keys);
  const product = layers.every((layer) => modules.every((m) => held.has(`${prefix}.${layer}.${m}`)));
  if (product) return { target_modules: suffixes, layers_to_transform: layers, layers_pattern: prefix };
  const escaped = [...keys].sort().map((key) => key.replaceAll('.', '\\.'));
  return { target_modules: `(?:.*\\.)?(?:${escaped.join('|')})` };
}
