import type { ComposeJobData, TrainJobData, TrainJobName, WebhookJobData } from './index.js';
import { TRAIN_JOB_OPTIONS } from './index.js';

/**
 * What a job row needs for its queue entry. Postgres is the source of truth: the entry is
 * derived from the row alone, so the gateway that creates a job and the reconciler that
 * re-enqueues it after Redis lost it make the same entry under the same BullMQ job id.
 */
export interface QueuedJobRow {
  id: string;
  tenantId: string;
  kind: 'fine_tune' | 'compose' | 'retrain' | 'audit';
  params: unknown;
  compositionId: string | null;
  deletionRequestId: string | null;
}

export type JobQueueEntry =
  | { queue: 'train'; name: TrainJobName; data: TrainJobData; opts: typeof TRAIN_JOB_OPTIONS & { jobId: string } }
  | { queue: 'compose'; name: 'compose'; data: ComposeJobData; opts: typeof TRAIN_JOB_OPTIONS & { jobId: string } };

/** The row's queue entry, or null for rows that never run on a queue of their own. */
export function jobQueueEntry(row: QueuedJobRow): JobQueueEntry | null {
  const opts = { jobId: row.id, ...TRAIN_JOB_OPTIONS };
  const data = { jobId: row.id, tenantId: row.tenantId };
  switch (row.kind) {
    case 'fine_tune': {
      const partitioned = (row.params as { partition_by?: unknown } | null)?.partition_by !== undefined;
      return { queue: 'train', name: partitioned ? 'partitioned' : 'fine_tune', data, opts };
    }
    case 'retrain':
      return row.deletionRequestId ? { queue: 'train', name: 'deletion', data, opts } : null;
    case 'compose':
      return row.compositionId
        ? { queue: 'compose', name: 'compose', data: { ...data, compositionId: row.compositionId }, opts }
        : null;
    case 'audit':
      return null;
  }
}

/** Attempt `attempt` of a webhook delivery, `delayMs` from now; its job id names both, so it is made once. */
export function deliveryQueueEntry(deliveryId: string, tenantId: string, attempt: number, delayMs = 0) {
  return {
    name: 'deliver',
    data: { deliveryId, tenantId, attempt } satisfies WebhookJobData,
    opts: {
      jobId: `${deliveryId}-${attempt}`,
      removeOnComplete: 1000,
      removeOnFail: 5000,
      ...(delayMs > 0 ? { delay: delayMs } : {}),
    },
  };
}
