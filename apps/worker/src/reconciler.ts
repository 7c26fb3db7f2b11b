import type { Database } from '@tessera/db';
import {
  deliveryQueueEntry,
  jobQueueEntry,
  type ComposeJobData,
  type TrainJobData,
  type TrainJobName,
  type WebhookJobData,
} from '@tessera/queue';
import type { JobState, Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** BullMQ states in which an entry will still run (or is running): nothing to do. */
const LIVE: ReadonlySet<JobState | 'unknown'> = new Set([
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
]);

/** An entry that ended while its row did not is put back this many times, then left to an operator. */
const MAX_REVIVALS = 3;

export interface ReconcilerDeps {
  database: Database;
  redis: Redis;
  prefix: string;
  train: Queue<TrainJobData, unknown, TrainJobName>;
  compose: Queue<ComposeJobData>;
  webhooks: Queue<WebhookJobData>;
  /** Rows younger than this are left to whoever just created them. */
  settleMs: number;
  log: (line: string, level?: 'info' | 'warn') => void;
}

export interface ReconcileReport {
  /** Unfinished rows looked at. */
  checked: number;
  /** Entries added for rows whose queue entry was missing (Redis lost it, or it was never added). */
  enqueued: string[];
  /** Entries that had ended (failed, or completed) while their row had not, put back. */
  revived: string[];
  /** Rows left alone: revived too often already, or with no queue of their own. */
  skipped: string[];
}

/**
 * One pass: every job queued or running and every delivery pending in Postgres gets a live
 * queue entry under its Postgres id. Postgres is the source of truth; Redis may lose entries
 * (restarted empty), a gateway may fail to add one (outage between commit and enqueue), and a
 * handler may end without recording its outcome (database blip after the work). One
 * reconciler at a time holds a lock; adding an existing job id is a no-op in BullMQ, so a
 * race with a gateway that is enqueueing the same row makes no second job.
 */
export async function reconcile(deps: ReconcilerDeps): Promise<ReconcileReport | null> {
  const lock = `${deps.prefix}:reconciler-lock`;
  if ((await deps.redis.set(lock, String(process.pid), 'PX', 60_000, 'NX')) !== 'OK') return null;
  const report: ReconcileReport = { checked: 0, enqueued: [], revived: [], skipped: [] };
  try {
    const work = await deps.database.unfinishedWork(new Date(Date.now() - deps.settleMs));
    for (const item of work) {
      report.checked++;
      if (item.kind === 'job') await reconcileJob(deps, item.id, item.tenantId, report);
      else await reconcileDelivery(deps, item.id, item.tenantId, report);
    }
  } finally {
    await deps.redis.del(lock);
  }
  if (report.enqueued.length || report.revived.length)
    deps.log(
      `reconciler: enqueued ${report.enqueued.join(', ') || 'none'}; revived ${report.revived.join(', ') || 'none'}`,
      'warn',
    );
  return report;
}

async function reconcileJob(deps: ReconcilerDeps, id: string, tenantId: string, report: ReconcileReport) {
  const row = await deps.database.withTenant({ tenantId }, (tx) =>
    tx.job.findFirst({
      where: { id, status: { in: ['queued', 'running'] } },
      select: { id: true, tenantId: true, kind: true, params: true, compositionId: true, deletionRequestId: true },
    }),
  );
  if (!row) return; // ended since the scan
  const entry = jobQueueEntry(row);
  if (!entry) {
    report.skipped.push(id);
    return;
  }
  const queue = (entry.queue === 'train' ? deps.train : deps.compose) as Queue;
  await putBack(deps, queue, entry.opts.jobId, report, () => queue.add(entry.name, entry.data, entry.opts));
}

async function reconcileDelivery(deps: ReconcilerDeps, id: string, tenantId: string, report: ReconcileReport) {
  const delivery = await deps.database.withTenant({ tenantId }, (tx) =>
    tx.webhookDelivery.findFirst({
      where: { id, status: 'pending' },
      select: { attemptCount: true, nextAttemptAt: true },
    }),
  );
  if (!delivery) return;
  const delayMs = Math.max(0, (delivery.nextAttemptAt?.getTime() ?? 0) - Date.now());
  const entry = deliveryQueueEntry(id, tenantId, delivery.attemptCount + 1, delayMs);
  await putBack(deps, deps.webhooks as Queue, entry.opts.jobId, report, () =>
    deps.webhooks.add(entry.name, entry.data, entry.opts),
  );
}

/** Adds the entry unless a live one exists; an ended one is removed first (its id would block the add). */
async function putBack(
  deps: ReconcilerDeps,
  queue: Queue,
  jobId: string,
  report: ReconcileReport,
  add: () => Promise<unknown>,
): Promise<void> {
  const state = await queue.getJobState(jobId);
  if (LIVE.has(state)) return;
  if (state === 'unknown') {
    await add();
    report.enqueued.push(jobId);
    return;
  }
  // Failed or completed while the row says unfinished: the handler's last write was lost.
  const revivals = `${deps.prefix}:reconciler-revivals:${jobId}`;
  const count = await deps.redis.incr(revivals);
  await deps.redis.expire(revivals, 7 * 24 * 3600);
  if (count > MAX_REVIVALS) {
    deps.log(`reconciler: ${jobId} ended ${count - 1} times without recording an outcome; left alone`, 'warn');
    report.skipped.push(jobId);
    return;
  }
  await queue.remove(jobId);
  await add();
  report.revived.push(jobId);
}

/** Runs a pass now and then every `intervalMs` until `signal` aborts (resolving once no pass runs); a failed pass is logged and retried next time. */
export async function startReconciler(deps: ReconcilerDeps, intervalMs: number, signal: AbortSignal): Promise<void> {
  const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  while (!signal.aborted) {
    try {
      await reconcile(deps);
    } catch (error) {
      deps.log(`reconciler pass failed (${(error as Error).message}); next in ${intervalMs} ms`, 'warn');
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([aborted, new Promise((resolve) => (timer = setTimeout(resolve, intervalMs)))]);
    clearTimeout(timer);
  }
}
