import { newId } from '@tessera/contracts';
import type { Database, TenantContext, TenantTransaction } from '@tessera/db';
import type { ExecutionProvider } from '@tessera/engine';
import { moveAdapterVersions } from '@tessera/domain';
import type { WebhookJobData } from '@tessera/queue';
import type { TenantBlobStores } from '@tessera/storage';
import type { Job as QueueJob, Queue } from 'bullmq';
import type { BaseModelLoader } from './base-models.js';
import type { PlacementProbers } from './placement-probers.js';

/** What every training-side job of the worker works with. */
export interface JobDeps {
  database: Database;
  blobs: TenantBlobStores;
  models: BaseModelLoader;
  /** Placement probers per base model, their sessions kept between fine-tunes. */
  probers: PlacementProbers;
  /** Where job outcomes become webhook deliveries. */
  webhooks: Queue<WebhookJobData>;
  threads: number;
  /** The provider the worker's probe found usable at start (cpu after a fallback). */
  executionProvider: ExecutionProvider;
  log: (line: string) => void;
}

/** Appends events to one job's log (what GET …/events and its SSE stream show). */
export function jobEvents(database: Database, ctx: TenantContext, jobId: string) {
  return (type: 'status' | 'message' | 'metric', message: string | null, data?: Record<string, unknown>) =>
    database.withTenant(ctx, (tx) =>
      tx.jobEvent.create({
        data: {
          id: newId('jev'),
          tenantId: ctx.tenantId,
          jobId,
          type,
          message,
          ...(data ? { data: data as never } : {}),
        },
      }),
    );
}

/** Whether this run of a queue job is its last attempt: a failure now is final. */
export function isLastAttempt(queueJob: QueueJob): boolean {
  return queueJob.attemptsMade + 1 >= (queueJob.opts.attempts ?? 1);
}

/**
 * Whether a deletion reached a version while it trained: the version was marked stale, or one
 * of the documents it trained on is no longer active (a deletion that committed before the
 * version's document rows existed). Such a version never goes live; it is left stale.
 */
export async function staleByDeletion(
  tx: TenantTransaction,
  tenantId: string,
  versionId: string | null,
  documentIds: string[],
): Promise<boolean> {
  const current = versionId
    ? await tx.adapterVersion.findFirst({ where: { id: versionId }, select: { status: true } })
    : null;
  const gone = await tx.document.count({ where: { id: { in: documentIds }, status: { not: 'active' } } });
  if (current?.status !== 'stale' && gone === 0) return false;
  if (versionId) await moveAdapterVersions(tx, tenantId, [versionId], 'stale');
  return true;
}
