import type { TenantTransaction } from '@tessera/db';
import { moveAdapterVersions, moveCompositions, moveJob } from './movers.js';

/**
 * A fine-tune that ends without weights (failed, or cancelled by its caller): the job ends,
 * its version is archived (one a deletion made stale meanwhile stays stale), and
 * `fine_tune.<status>` fires. The gateway (a cancel before it started, a queue outage) and
 * the worker both end fine-tunes through here; a job the other already ended is left as it is
 * (a cancel racing the worker's own end), with no deliveries.
 */
export async function endFineTune(
  tx: TenantTransaction,
  tenantId: string,
  job: { id: string; adapterId: string | null; adapterVersionId: string | null },
  status: 'failed' | 'cancelled',
  message: string | null,
): Promise<string[]> {
  const moved = await moveJob(tx, tenantId, job.id, status, {
    data: { finishedAt: new Date(), ...(message ? { error: { message } } : {}) },
    event: message ? { data: { error: message } } : {},
    webhooks: [
      {
        type: `fine_tune.${status}`,
        data: { id: job.id, adapter_id: job.adapterId, ...(message ? { error: message } : {}) },
      },
    ],
    ifAllowed: true,
  });
  if (!moved) return [];
  if (job.adapterVersionId)
    await moveAdapterVersions(tx, tenantId, [job.adapterVersionId], 'archived', { ifAllowed: true });
  return moved.deliveryIds;
}

/**
 * A compose job that cannot build: the job fails and so does its composition, unless a
 * deletion made the composition stale meanwhile or queued a newer build (the deletion's
 * rebuild decides then).
 */
export async function failCompose(
  tx: TenantTransaction,
  tenantId: string,
  jobId: string,
  compositionId: string,
  message: string,
): Promise<void> {
  await moveJob(tx, tenantId, jobId, 'failed', {
    data: { finishedAt: new Date(), error: { message } },
    event: { data: { error: message } },
  });
  if (!(await isNewestComposeJob(tx, compositionId, jobId))) return;
  const composition = await tx.composition.findFirst({ where: { id: compositionId }, select: { status: true } });
  if (composition?.status === 'queued' || composition?.status === 'building')
    await moveCompositions(tx, tenantId, [compositionId], 'failed');
}

/**
 * Whether `jobId` is the composition's newest compose job: a deletion's rebuild queues a newer
 * one, and only the newest may decide how the composition ends.
 */
export async function isNewestComposeJob(
  tx: TenantTransaction,
  compositionId: string,
  jobId: string,
): Promise<boolean> {
  const newest = await tx.job.findFirst({
    where: { compositionId, kind: 'compose' },
    orderBy: { id: 'desc' },
    select: { id: true },
  });
  return newest?.id === jobId;
}
