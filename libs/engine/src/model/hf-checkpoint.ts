import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeSafetensors, type NamedTensor } from '../format/safetensors.js';
import { fileShard, type ShardSource } from '../format/shard-source.js';
import { HfTokenizer } from '../tokenizer/hf-tokenizer.js';
import { configProblems, weightShapes, type DecoderConfig, type DecoderWeights } from './decoder-config.js';
import { shardReader } from './weight-file.js';
import { hfLlamaFamilyConfigOf, isLlamaFamily, LLAMA_FAMILIES, llamaFamilyConfigFromHf } from './hf-llama-family.js';

/** A base model as the engine loads it. `tokenizer` is null where the checkpoint has none. */
export interface Checkpoint {
  config: DecoderConfig;
  weights: DecoderWeights;
  tokenizer: HfTokenizer | null;
}

/** A checkpoint folder without its weights: the config, the tokenizer (null where it has none) and its shard files. */
export interface HfCheckpointFolder {
  config: DecoderConfig;
  tokenizer: HfTokenizer | null;
  /** model.safetensors, or the shards model.safetensors.index.json lists. */
  shardFiles: string[];
}

/** Reads a Hugging Face checkpoint folder's config.json, tokenizer files and shard list (no tensor data). */
export async function readHfCheckpointFolder(dir: string): Promise<HfCheckpointFolder> {
  const json = async (file: string) =>
    JSON.parse(await readFile(path.join(dir, file), 'utf8')) as Record<string, unknown>;
  const shardFiles = existsSync(path.join(dir, 'model.safetensors.index.json'))
    ? [
        ...new Set(
          Object.values(((await json('model.safetensors.index.json')).weight_map ?? {}) as Record<string, string>),
        ),
      ]
    : ['model.safetensors'];
  const tokenizer = existsSync(path.join(dir, 'tokenizer.json'))
    ? new HfTokenizer({
        tokenizer: await json('tokenizer.json'),
        config: existsSync(path.join(dir, 'tokenizer_config.json')) ? await json('tokenizer_config.json') : {},
      })
    : null;
  return { config: decoderConfigFromHf(await json('config.json')), tokenizer, shardFiles };
}

/**
 * Reads a Hugging Face checkpoint folder of a GPT-2 or Llama family (Llama, Qwen2, Mistral) model
 * into memory: config.json, model.safetensors (or shards listed in model.safetensors.index.json),
 * and, when present, tokenizer.json + tokenizer_config.json. F16 and BF16 weights are widened to fp32.
 */
export async function importHfCheckpoint(dir: string): Promise<Checkpoint> {
  const { config, tokenizer, shardFiles } = await readHfCheckpointFolder(dir);
  const shards = await Promise.all(shardFiles.map((file) => fileShard(path.join(dir, file), file)));
  const { weights, problems } = await decoderWeightsFromHf(config, shards);
  if (problems.length)
    throw new Error(
      `model.safetensors does not fit config.json: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? `; and ${problems.length - 10} more` : ''}`,
    );
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
 * Checkpoint tensors → the engine's weights in memory, read through `shardReader` (the one
 * place that matches a checkpoint's tensors to a config); every problem is named and nothing is
 * read when there is one.
 */
export async function decoderWeightsFromHf(
  config: DecoderConfig,
  shards: ShardSource[],
): Promise<{ weights: DecoderWeights; problems: string[] }> {
  const { read, problems } = await shardReader(config, shards);
  const weights: DecoderWeights = new Map();
  if (problems.length === 0) for (const name of weightShapes(config).keys()) weights.set(name, await read(name));
  return { weights, problems };
}
