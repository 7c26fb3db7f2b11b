import path from 'node:path';
import { ByteTokenizer, importHfCheckpoint, type TrainingModel } from '@tessera/engine';
import type { BaseModelModel } from '@tessera/db';

/**
 * Base models by id, loaded once per process. `builtin:<name>` is a checkpoint directory
 * under MODELS_DIR; its tokenizer is tokenizer.json when present, else the byte tokenizer.
 */
export class BaseModelLoader {
  private readonly loaded = new Map<string, Promise<TrainingModel>>();

  constructor(private readonly modelsDir: string) {}

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
    const match = /^builtin:([a-z0-9._-]+)$/.exec(row.weightsBlob);
    if (!match) throw new Error(`base model ${row.id}: weights ${row.weightsBlob} are not a built-in model (imported checkpoints arrive with POST /v1/base-models)`);
    const checkpoint = await importHfCheckpoint(path.join(this.modelsDir, match[1]!));
    return { name: row.name, config: checkpoint.config, weights: checkpoint.weights, tokenizer: checkpoint.tokenizer ?? new ByteTokenizer() };
  }
}
