import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readSafetensors, toFloat32, writeSafetensors, type NamedTensor } from '../format/safetensors.js';
import { HfTokenizer } from '../tokenizer/hf-tokenizer.js';
import { configProblems, weightShapes, type DecoderConfig, type DecoderWeights } from './decoder-config.js';
import { hfLlamaFamilyConfigOf, isLlamaFamily, LLAMA_FAMILIES, llamaFamilyConfigFromHf } from './hf-llama-family.js';

/** A base model as the engine loads it. `tokenizer` is null where the checkpoint has none. */
export interface Checkpoint {
  config: DecoderConfig;
  weights: DecoderWeights;
  tokenizer: HfTokenizer | null;
}

/**
 * Reads a Hugging Face checkpoint folder of a GPT-2 or Llama family (Llama, Qwen2, Mistral) model: config.json,
 * model.safetensors (or shards listed in model.safetensors.index.json), and, when present,
 * tokenizer.json + tokenizer_config.json. F16 and BF16 weights are widened to fp32.
 */
export async function importHfCheckpoint(dir: string): Promise<Checkpoint> {
  const json = async (file: string) =>
    JSON.parse(await readFile(path.join(dir, file), 'utf8')) as Record<string, unknown>;
  const optionalJson = async (file: string) => (existsSync(path.join(dir, file)) ? json(file) : undefined);
  const shardFiles = existsSync(path.join(dir, 'model.safetensors.index.json'))
    ? [
        ...new Set(
          Object.values(((await json('model.safetensors.index.json')).weight_map ?? {}) as Record<string, string>),
        ),
      ]
    : ['model.safetensors'];
  return checkpointFromHfFiles({
    config: await json('config.json'),
    shards: await Promise.all(shardFiles.map((file) => readFile(path.join(dir, file)))),
    tokenizer: await optionalJson('tokenizer.json'),
    tokenizerConfig: await optionalJson('tokenizer_config.json'),
  });
}

/** A checkpoint's files as read from wherever they are kept (a folder, a blob store). */
export interface HfCheckpointFiles {
  config: Record<string, unknown>;
  shards: Uint8Array[];
  tokenizer?: Record<string, unknown> | undefined;
  tokenizerConfig?: Record<string, unknown> | undefined;
}

export function checkpointFromHfFiles(files: HfCheckpointFiles): Checkpoint {
  const config = decoderConfigFromHf(files.config);
  const { weights, problems } = decoderWeightsFromHf(config, files.shards);
  if (problems.length)
    throw new Error(
      `model.safetensors does not fit config.json: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? `; and ${problems.length - 10} more` : ''}`,
    );
  const tokenizer = files.tokenizer
    ? new HfTokenizer({ tokenizer: files.tokenizer, config: files.tokenizerConfig ?? {} })
    : null;
  return { config, weights, tokenizer };
}

/** Writes config.json and model.safetensors as transformers would for this model (fp32). */
export async function writeHfCheckpoint(dir: string, config: DecoderConfig, weights: DecoderWeights): Promise<void> {
  await mkdir(dir, { recursive: true });
  const prefix = config.architecture === 'gpt2' ? 'transformer.' : 'model.';
  const tensors = new Map<string, NamedTensor>();
  for (const [name, shape] of weightShapes(config)) {
    const data = weights.get(name);
    if (!data) throw new Error(`missing weight ${name}`);
    tensors.set(name === 'lm_head.weight' ? name : prefix + name, { dtype: 'F32', shape, data });
  }
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(hfConfigOf(config), null, 2) + '\n');
  await writeFile(path.join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
}

/** config.json → DecoderConfig, refusing what the engine would compute differently. */
export function decoderConfigFromHf(hf: Record<string, unknown>): DecoderConfig {
  const int = (key: string, fallback?: number) => {
    const value = hf[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value))
      throw new Error(`config.json: ${key} must be an integer, got ${JSON.stringify(hf[key])}`);
    return value;
  };
  const num = (key: string, fallback: number) => {
    const value = hf[key] ?? fallback;
    if (typeof value !== 'number')
      throw new Error(`config.json: ${key} must be a number, got ${JSON.stringify(hf[key])}`);
    return value;
  };
  let config: DecoderConfig;
  if (hf.model_type === 'gpt2') {
    const activation = hf.activation_function ?? 'gelu_new';
    if (activation !== 'gelu' && activation !== 'gelu_new' && activation !== 'gelu_pytorch_tanh') {
      throw new Error(`config.json: activation_function ${String(activation)} is not supported (gelu, gelu_new)`);
    }
    // Both change the attention scores; transformers' defaults are what the engine computes.
    if (hf.scale_attn_by_inverse_layer_idx === true)
      throw new Error('config.json: scale_attn_by_inverse_layer_idx is not supported (false)');
    if (hf.scale_attn_weights === false) throw new Error('config.json: scale_attn_weights is not supported (true)');
    config = {
      architecture: 'gpt2',
      vocabSize: int('vocab_size'),
      dModel: int('n_embd'),
      nLayers: int('n_layer'),
      nHeads: int('n_head'),
      maxPositions: int('n_positions'),
      normEps: num('layer_norm_epsilon', 1e-5),
      gelu: activation === 'gelu' ? 'exact' : 'tanh',
    };
  } else if (isLlamaFamily(hf.model_type)) {
    config = llamaFamilyConfigFromHf(hf, hf.model_type);
  } else {
    throw new Error(
      `config.json: model_type ${JSON.stringify(hf.model_type)} is not supported (gpt2, ${LLAMA_FAMILIES.join(', ')})`,
    );
  }
  const problems = configProblems(config);
  if (problems.length) throw new Error(`config.json: ${problems.join('; ')}`);
  return config;
}

function hfConfigOf(config: DecoderConfig): Record<string, unknown> {
  if (config.architecture === 'gpt2') {
    return {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      vocab_size: config.vocabSize,
      n_embd: config.dModel,
      n_layer: config.nLayers,
      n_head: config.nHeads,
      n_positions: config.maxPositions,
      layer_norm_epsilon: config.normEps,
      activation_function: config.gelu === 'tanh' ? 'gelu_new' : 'gelu',
      tie_word_embeddings: true,
      torch_dtype: 'float32',
    };
  }
  return hfLlamaFamilyConfigOf(config);
}

/**
 * Checkpoint tensors → the engine's weights: the model prefix dropped, buffers that
 * transformers saves but recomputes ignored, every shape checked, and every missing or
 * unexpected tensor named in `problems`.
 */
export function decoderWeightsFromHf(
  config: DecoderConfig,
  shards: Uint8Array[],
): { weights: DecoderWeights; problems: string[] } {
  const expected = weightShapes(config);
  const weights: DecoderWeights = new Map();
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const shard of shards) {
    for (const [name, tensor] of readSafetensors(shard).tensors) {
      const key = name.replace(/^(transformer|model)\./, '');
      seen.add(key);
      // GPT-2's causal-mask buffers, older Llamas' rotary tables, and a tied lm_head.
      if (/\.attn\.(masked_)?bias$|rotary_emb\.inv_freq$/.test(key) || (key === 'lm_head.weight' && !expected.has(key)))
        continue;
      const shape = expected.get(key);
      if (!shape) {
        problems.push(`unexpected tensor ${name}`);
        continue;
      }
      if (tensor.shape.join(',') !== shape.join(',')) {
        problems.push(`${name}: shape [${tensor.shape}], expected [${shape}]`);
        continue;
      }
      weights.set(key, toFloat32(tensor));
    }
  }
  for (const name of expected.keys()) if (!seen.has(name)) problems.push(`missing tensor ${name}`);
  return { weights, problems };
}
