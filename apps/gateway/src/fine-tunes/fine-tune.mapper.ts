import {
  storedHyperparameters,
  type CheckpointDto,
  type FineTune,
  type FineTuneMetrics,
  type JobEventDto,
} from '@tessera/contracts';
import type { CheckpointModel, JobEventModel, JobModel } from '@tessera/db';

/** What a fine-tune job keeps in `params`. */
export interface FineTuneParams {
  hyperparameters: unknown;
  validation_split: number;
}

export function toFineTuneDto(row: JobModel, partitions: FineTune['partitions'] = null): FineTune {
  const params = row.params as unknown as FineTuneParams;
  const result = row.result as { metrics?: FineTuneMetrics } | null;
  const error = row.error as { message?: string } | null;
  return {
    id: row.id,
    status: row.status,
    base_model_id: row.baseModelId!,
    dataset_id: row.datasetId,
    adapter_id: row.adapterId,
    adapter_version_id: row.adapterVersionId,
    hyperparameters: storedHyperparameters(params.hyperparameters),
    validation_split: params.validation_split,
    partitions: partitions?.length ? partitions : null,
    parent_job_id: row.parentJobId,
    progress: row.progress,
    metrics: result?.metrics ?? null,
    error: error?.message ? { message: error.message } : null,
    attempts: row.attempts,
    created_at: row.createdAt.toISOString(),
    started_at: row.startedAt?.toISOString() ?? null,
    finished_at: row.finishedAt?.toISOString() ?? null,
  };
}

export function toJobEventDto(row: JobEventModel): JobEventDto {
  return {
    id: row.id,
    type: row.type,
    message: row.message,
    data: (row.data as Record<string, unknown> | null) ?? null,
    created_at: row.createdAt.toISOString(),
  };
}

export function toCheckpointDto(row: CheckpointModel): CheckpointDto {
  return { id: row.id, step: row.step, created_at: row.createdAt.toISOString() };
}
