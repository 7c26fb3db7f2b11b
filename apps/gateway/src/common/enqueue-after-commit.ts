import type { Logger } from '@nestjs/common';

/**
 * Puts committed work on its queue. The row in Postgres is the job (or delivery), so a queue
 * that is down fails nothing: the worker's reconciler enqueues every row that has no live
 * queue entry (apps/worker/src/reconciler.ts), and the caller gets the row as committed.
 */
export async function enqueueAfterCommit(logger: Logger, what: string, enqueue: () => Promise<unknown>): Promise<void> {
  try {
    await enqueue();
  } catch (error) {
    logger.warn(`enqueueing ${what} failed (${(error as Error).message}); the reconciler will`);
  }
}
