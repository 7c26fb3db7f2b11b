import { Inject, Injectable } from '@nestjs/common';
import type { QueuesDto, UsageDto, UsageQuery } from '@tessera/contracts';
import { Database } from '@tessera/db';
import { visible } from '../common/access-rule.js';
import type { Caller } from '../common/caller.js';
import { ProblemException } from '../common/problem.exception.js';
import { UsageLedger } from './usage-ledger.js';
import { COMPOSE_QUEUE, TRAIN_QUEUE, type ComposeQueue, type TrainQueue } from '../common/queues.provider.js';

const DEFAULT_WINDOW_MS = 7 * 24 * 3600 * 1000;

@Injectable()
export class UsageService {
  constructor(
    private readonly database: Database,
    @Inject(TRAIN_QUEUE) private readonly trainQueue: TrainQueue,
    @Inject(COMPOSE_QUEUE) private readonly composeQueue: ComposeQueue,
    private readonly ledger: UsageLedger,
  ) {}

  async perAdapter(caller: Caller, query: UsageQuery): Promise<UsageDto> {
    const until = query.until ? new Date(query.until) : new Date();
    const since = query.since ? new Date(query.since) : new Date(until.getTime() - DEFAULT_WINDOW_MS);
    if (since > until)
      throw new ProblemException('validation', 'since is after until', [
        { field: 'query.since', message: 'must not be after until' },
      ]);
    // Requests that ended before this read are counted in it (best effort: Redis down delays, never loses).
    await this.ledger.flush().catch(() => undefined);
    return this.database.readAsTenant(caller, async (tx) => {
      const groups = await tx.usageRecord.groupBy({
        by: ['adapterId'],
        where: { tenantId: caller.tenantId, createdAt: { gte: since, lte: until } },
        _count: { _all: true },
        _sum: { promptTokens: true, completionTokens: true },
      });
      const ids = groups.map((g) => g.adapterId).filter((id): id is string => id !== null);
      // Adapters deleted since keep their usage (their rows stay, marked deleted); adapters
      // outside the caller's groups are left out, usage and all.
      const names = new Map(
        (
          await tx.adapter.findMany({
            where: { ...visible.adapters(caller), id: { in: ids } },
            select: { id: true, name: true },
          })
        ).map((a) => [a.id, a.name]),
      );
      const data = groups
        .filter((g) => g.adapterId === null || names.has(g.adapterId))
        .map((g) => ({
          adapter_id: g.adapterId,
          adapter_name: g.adapterId ? (names.get(g.adapterId) ?? null) : null,
          requests: g._count._all,
          prompt_tokens: g._sum.promptTokens ?? 0,
          completion_tokens: g._sum.completionTokens ?? 0,
        }))
        .sort((a, b) => b.requests - a.requests || (a.adapter_id ?? '').localeCompare(b.adapter_id ?? ''));
      return { object: 'usage' as const, since: since.toISOString(), until: until.toISOString(), data };
    });
  }

  async queues(caller: Caller): Promise<QueuesDto> {
    const depth = async (name: 'train' | 'compose', queue: TrainQueue | ComposeQueue) => {
      // Counts only, and no failures: other tenants' job volume is all a tenant learns here.
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
      // BullMQ keeps prioritized jobs in their own set; to a caller they are waiting too.
      return {
        name,
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
      };
    };
    const [train, compose, jobs] = await Promise.all([
      depth('train', this.trainQueue),
      depth('compose', this.composeQueue),
      this.database.readAsTenant(caller, (tx) =>
        tx.job.groupBy({
          by: ['status'],
          where: { ...visible.jobs(caller), status: { in: ['queued', 'running'] } },
          _count: { _all: true },
        }),
      ),
    ]);
    const count = (status: string) => jobs.find((j) => j.status === status)?._count._all ?? 0;
    return { object: 'queues', data: [train, compose], jobs: { queued: count('queued'), running: count('running') } };
  }
}
