import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import {
  ByteTokenizer,
  fileShard,
  HfTokenizer,
  readHfCheckpointFolder,
  type DecoderConfig,
  type ShardSource,
  type Tokenizer,
  type TrainingModel,
  type WeightPrecision,
} from '@tessera/engine';
import type { BaseModelModel } from '@tessera/db';
import type { TenantBlobStores } from '@tessera/storage';
import { shardSourcesOf, tokenizerFilesOf } from './shard-sources.js';
import { cachedWeightFile } from './weight-cache.js';

/** What a base model is loaded for: serving at its registered precision, or training and audits in fp32. */
export type ModelUse = 'serve' | 'train';

/**
 * Base models by id, loaded once per process into weight files under WEIGHTS_CACHE_DIR that
 * every session maps (one copy of the weights, however many sessions). `builtin:<name>` is a
 * checkpoint directory under MODELS_DIR; an imported checkpoint is in its tenant's blob store,
 * its config the row's. Without a tokenizer a model reads bytes. Training graphs need fp32
 * weights (quantized MatMulNBits has no gradient), so a quantized model trains on fp32 and serves
 * at its precision.
 */
export class BaseModelLoader {
  private readonly loaded = new Map<string, Promise<TrainingModel>>();

  constructor(
    private readonly modelsDir: string,
    private readonly blobs: TenantBlobStores,
    private readonly weightsDir: string,
  ) {}

  load(row: BaseModelModel, use: ModelUse = 'train'): Promise<TrainingModel> {
    const precision = use === 'serve' ? servingPrecision(row) : 'fp32';
    const key = `${row.id}/${precision}`;
    let model = this.loaded.get(key);
    if (!model) {
      model = this.read(row, precision);
      this.loaded.set(key, model);
      model.catch(() => this.loaded.delete(key));
    }
    return model;
  }

  private async read(row: BaseModelModel, precision: WeightPrecision): Promise<TrainingModel> {
    // An import not yet validated whole is never served or trained on, whatever reached the queue.
    if (row.status !== 'ready')
      throw new Error(`base model ${row.id} is ${row.status}: only a validated checkpoint loads`);
    const { config, tokenizer, shards, version } = await this.checkpointOf(row);
    const weights = await cachedWeightFile({
      cacheDir: this.weightsDir,
      modelId: row.id,
      // Keyed by content within its owner (a built-in's files, an upload's blobs and config), not by
      // row: a retrained built-in or a new upload never reads a stale file, and the demo model is
      // written once per machine whatever database its rows live in.
      contentKey: `${row.tenantId ?? 'platform'}-${createHash('sha256').update(version).digest('hex').slice(0, 24)}`,
      config,
      shards,
      precision,
    });
    return { name: row.name, config, weights, tokenizer: tokenizer ?? new ByteTokenizer() };
  }

  private async checkpointOf(row: BaseModelModel): Promise<{
    config: DecoderConfig;
    tokenizer: Tokenizer | null;
    shards: () => Promise<ShardSource[]>;
    version: string;
  }> {
    const builtin = /^builtin:([a-z0-9._-]+)$/.exec(row.weightsBlob ?? '');
    if (builtin) {
      const dir = path.join(this.modelsDir, builtin[1]!);
      const { config, tokenizer, shardFiles } = await readHfCheckpointFolder(dir);
      const stats = await Promise.all(shardFiles.map((file) => stat(path.join(dir, file))));
      return {
        config,
        tokenizer,
        shards: () => Promise.all(shardFiles.map((file) => fileShard(path.join(dir, file), file))),
        version: JSON.stringify([row.weightsBlob, shardFiles, stats.map((s) => [s.size, s.mtimeMs])]),
      };
    }
    const tokenizerFiles = await tokenizerFilesOf(row, this.blobs);
    return {
      config: row.config as unknown as DecoderConfig,
      tokenizer: tokenizerFiles
        ? new HfTokenizer({ tokenizer: tokenizerFiles.tokenizer, config: tokenizerFiles.tokenizer_config ?? {} })
        : null,
      shards: () => shardSourcesOf(row, this.blobs),
      version: JSON.stringify([row.weightsBlob, row.weightShards, row.config]),
    };
  }
}

/**
 * The precision a model serves at. fp16 and bf16 compute in fp32 on CPU (onnxruntime's CPU
 * MatMul has no half kernels on x86), so they keep fp32 weight files here.
 */
function servingPrecision(row: BaseModelModel): WeightPrecision {
  return row.precision === 'int8' || row.precision === 'int4' ? row.precision : 'fp32';
}
