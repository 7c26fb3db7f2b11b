import type { Database, TenantContext } from '@tessera/db';
import { moveJob } from '@tessera/domain';
import type { TrainJobData, WebhookJobData } from '@tessera/queue';
import { enqueueDeliveries } from '@tessera/webhooks';
import { DelayedError, type Job as QueueJob, type Queue } from 'bullmq';

const PARTITIONS_RECHECK_MS = 5_000;

/**
 * The parent of a partitioned fine-tune (a BullMQ flow): it runs once every partition's
 * fine-tune has ended, checks each left a routing key (its centroid), and reports the whole.
 * Partitions that failed leave the others live: the knowledge base routes among those that
 * are ready.
 */
export async function runPartitionedParent(
  queueJob: QueueJob<TrainJobData>,
  deps: { database: Database; webhooks: Queue<WebhookJobData> },
  token?: string,
): Promise<void> {
  const { jobId, tenantId } = queueJob.data;
  const ctx: TenantContext = { tenantId };
  // In its flow the parent runs after its partitions; re-enqueued alone by the reconciler
  // (Redis lost the flow), it waits for them here instead.
  const unfinished = await deps.database.withTenant(ctx, (tx) =>
    tx.job.count({ where: { tenantId, parentJobId: jobId, status: { in: ['queued', 'running'] } } }),
  );
  if (unfinished > 0) {
    await queueJob.moveToDelayed(Date.now() + PARTITIONS_RECHECK_MS, token);
    throw new DelayedError();
  }
  const { deliveryIds } = await deps.database.withTenant(ctx, async (tx) => {
    // A retry after a crash that followed the commit finds the parent ended: nothing more to say.
    const parent = await tx.job.findFirstOrThrow({ where: { id: jobId }, select: { status: true } });
    if (parent.status !== 'queued' && parent.status !== 'running') return { deliveryIds: [] };
    const children = await tx.job.findMany({
      where: { tenantId, parentJobId: jobId },
      include: { adapter: { include: { versions: true } } },
    });
    const failed = children.filter((c) => c.status !== 'succeeded');
    const keyed = children.filter((c) =>
      c.adapter?.versions.some((v) => v.id === c.adapterVersionId && v.status === 'ready' && v.centroid),
    );
    const status = failed.length === children.length ? 'failed' : 'succeeded';
    const message = failed.length ? `${failed.length} of ${children.length} partitions failed` : null;
    const moved = await moveJob(tx, tenantId, jobId, status, {
      data: {
        progress: 1,
        finishedAt: new Date(),
        result: { partitions: children.length, ready: keyed.length, failed: failed.map((c) => c.id) } as never,
        ...(message ? { error: { message } } : {}),
      },
      event: { data: { partitions: children.length, ready: keyed.length } },
      webhooks: [
        {
          type: `fine_tune.${status}`,
          data: {
            id: jobId,
            partitions: children.map((c) => ({ job_id: c.id, adapter_id: c.adapterId, status: c.status })),
          },
        },
      ],
    });
    return { deliveryIds: moved!.deliveryIds };
  });
  await enqueueDeliveries(deps.webhooks, tenantId, deliveryIds);
}
