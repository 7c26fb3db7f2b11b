import path from 'node:path';
import {
  ByteTokenizer,
  decoderWeightsFromHf,
  HfTokenizer,
  importHfCheckpoint,
  type DecoderConfig,
  type TrainingModel,
} from '@tessera/engine';
import type { BaseModelModel } from '@tessera/db';
import type { TenantBlobStores } from '@tessera/storage';

/**
 * Base models by id, loaded once per process. `builtin:<name>` is a checkpoint directory
 * under MODELS_DIR; an imported checkpoint is its model.safetensors (and tokenizer) in its
 * tenant's blob store, its config the row's. Without a tokenizer a model reads bytes.
 */
export class BaseModelLoader {
  private readonly loaded = new Map<string, Promise<TrainingModel>>();

  constructor(
    private readonly modelsDir: string,
    private readonly blobs: TenantBlobStores,
  ) {}

  load(row: BaseModelModel): Promise<TrainingModel> {
    let model = this.loaded.get(row.id);
    if (!model) {
      model = this.read(row);
      this.loaded.set(row.id, model);
      model.catch(() => this.loaded.delete(row.id));
    }
    return model;
  }

  private async read(row: BaseModelModel): Promise<TrainingModel> {
    if (!row.weightsBlob) throw new Error(`base model ${row.id} has no weights yet`);
    const builtin = /^builtin:([a-z0-9._-]+)$/.exec(row.weightsBlob);
    if (builtin) {
      const checkpoint = await importHfCheckpoint(path.join(this.modelsDir, builtin[1]!));
      return {
        name: row.name,
        config: checkpoint.config,
        weights: checkpoint.weights,
        tokenizer: checkpoint.tokenizer ?? new ByteTokenizer(),
      };
    }
    if (!row.tenantId) throw new Error(`base model ${row.id}: the platform's models are built in`);
    const store = this.blobs.forTenant(row.tenantId);
    const config = row.config as unknown as DecoderConfig;
    const tokenizerFiles = row.tokenizerBlob
      ? (JSON.parse(new TextDecoder().decode(await store.get(row.tokenizerBlob))) as {
          tokenizer: Record<string, unknown>;
          tokenizer_config?: Record<string, unknown>;
        })
      : null;
    const { weights, problems } = decoderWeightsFromHf(config, [await store.get(row.weightsBlob)]);
    if (problems.length) throw new Error(`base model ${row.id}: ${problems.slice(0, 5).join('; ')}`);
    const tokenizer = tokenizerFiles
      ? new HfTokenizer({ tokenizer: tokenizerFiles.tokenizer, config: tokenizerFiles.tokenizer_config ?? {} })
      : new ByteTokenizer();
    return { name: row.name, config, weights, tokenizer };
  }
}
