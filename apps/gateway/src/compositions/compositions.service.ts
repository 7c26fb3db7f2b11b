import { Inject, Injectable, Logger } from '@nestjs/common';
import { newId, type CompositionDto, type CreateComposition, type ListQuery, type Page } from '@tessera/contracts';
import { Database, type TenantTransaction } from '@tessera/db';
import { createJob } from '@tessera/domain';
import { TRAIN_JOB_OPTIONS } from '@tessera/queue';
import { enqueueAfterCommit } from '../common/enqueue-after-commit.js';
import { recordAudit } from '../common/audit.util.js';
import { checkGroupCovers, findUsableGroup, mayUseGroup, soleGroupOf, visible } from '../common/access-rule.js';
import type { Caller } from '../common/caller.js';
import { pageArgs, toPage } from '../common/pagination.util.js';
import { ProblemException } from '../common/problem.exception.js';
import { COMPOSE_QUEUE, type ComposeQueue } from '../common/queues.provider.js';
import { findUsableAdapter } from '../inference/model-resolver.js';

const withRelations = {
  members: { include: { adapter: true, adapterVersion: true }, orderBy: { adapterId: 'asc' } },
  jobs: { orderBy: { id: 'desc' }, take: 1 },
} as const;
type CompositionRow = NonNullable<Awaited<ReturnType<TenantTransaction['composition']['findFirst']>>> & {
  members: {
    adapterId: string;
    weight: number;
    adapter: { name: string; baseModelId: string; accessGroupId: string | null };
    adapterVersion: { version: number } | null;
  }[];
  jobs: { id: string; error: unknown }[];
};

@Injectable()
export class CompositionsService {
  private readonly logger = new Logger(CompositionsService.name);

  constructor(
    private readonly database: Database,
    @Inject(COMPOSE_QUEUE) private readonly composeQueue: ComposeQueue,
  ) {}

  /**
   * Members are resolved as inference resolves adapters (only those the caller may use; any
   * other is the same 404 as an unknown one) and pinned to their ready version. The row, its
   * members and the compose job are one transaction; the queue only says "build it".
   */
  async create(caller: Caller, body: CreateComposition): Promise<CompositionDto> {
    const learned = body.method === 'learned_gate';
    const params = body.params ?? {};
    const fieldErrors = [];
    if (learned && body.members.length < 2)
      fieldErrors.push({ field: 'body.members', message: 'a learned gate routes among at least 2 adapters' });
    if (learned && !params.dataset_id)
      fieldErrors.push({ field: 'body.params.dataset_id', message: 'required: the data the gate learns to route' });
    if (!learned && params.dataset_id)
      fieldErrors.push({ field: 'body.params.dataset_id', message: 'only for learned_gate' });
    if (fieldErrors.length)
      throw new ProblemException('validation', 'The composition cannot be built as asked', fieldErrors);

    const { row, jobId } = await this.database.withTenant(caller, async (tx) => {
      const members = [];
      for (const member of body.members)
        members.push({ ...(await findUsableAdapter(tx, caller, member.adapter)), weight: member.weight ?? 1 });
      if (new Set(members.map((m) => m.adapterId)).size !== members.length)
        throw new ProblemException('validation', 'A composition names an adapter twice', [
          { field: 'body.members', message: 'duplicate adapter' },
        ]);
      const bases = new Set(members.map((m) => m.baseModelId));
      if (bases.size > 1)
        throw new ProblemException('validation', 'The members are adapters of different base models', [
          { field: 'body.members', message: 'one base model' },
        ]);
      if (body.access_group_id) await findUsableGroup(tx, caller, body.access_group_id);
      if (
        params.dataset_id &&
        !(await tx.dataset.findFirst({ where: { id: params.dataset_id, tenantId: caller.tenantId, status: 'ready' } }))
      ) {
        throw new ProblemException('not-found', `No ready dataset ${params.dataset_id}`, [
          { field: 'body.params.dataset_id', message: 'not found' },
        ]);
      }
      // A learned gate trains on documents as a fine-tune does: only those the caller may read, and
      // the composition's group must cover theirs. The job records which, for a deletion to find.
      let accessGroupId = body.access_group_id ?? null;
      let gateDocuments: string[] | undefined;
      if (params.dataset_id) {
        const documents = await tx.document.findMany({
          where: { ...visible.documents(caller), datasetId: params.dataset_id, status: 'active' },
          select: { id: true, accessGroupId: true },
        });
        const hint = 'name a dataset whose documents share one access group';
        accessGroupId = body.access_group_id ?? soleGroupOf(documents, hint);
        checkGroupCovers(documents, accessGroupId, `Composition ${body.name}`, hint);
        gateDocuments = documents.map((d) => d.id);
      }
      const previous = await tx.composition.findFirst({
        where: { tenantId: caller.tenantId, name: body.name },
        orderBy: { version: 'desc' },
      });
      // A name another group's key holds is not reused: its versions would be served as this one's.
      if (
        previous &&
        !(await tx.composition.findFirst({ where: { id: previous.id, ...visible.compositions(caller) } }))
      )
        throw new ProblemException(
          'conflict',
          `A composition named ${body.name} exists in an access group this key may not use; choose another name`,
        );
      if (previous?.method === 'centroid')
        throw new ProblemException('conflict', `${body.name} names a knowledge base: partitioned fine-tunes add to it`);
      if (await tx.adapter.findFirst({ where: { tenantId: caller.tenantId, name: body.name } }))
        throw new ProblemException('conflict', `${body.name} names an adapter; a composition needs a name of its own`);
      const id = newId('cmp');
      await tx.composition.create({
        data: {
          id,
          tenantId: caller.tenantId,
          name: body.name,
          version: (previous?.version ?? 0) + 1,
          method: body.method,
          params: params as never,
          accessGroupId,
          status: 'queued',
        },
      });
      await tx.compositionMember.createMany({
        data: members.map((m) => ({
          tenantId: caller.tenantId,
          compositionId: id,
          adapterId: m.adapterId,
          adapterVersionId: m.versionId,
          weight: m.weight,
        })),
      });
      const job = await createJob(tx, {
        tenantId: caller.tenantId,
        kind: 'compose',
        compositionId: id,
        baseModelId: [...bases][0]!,
        datasetId: params.dataset_id ?? null,
        params: (gateDocuments ? { ...params, document_ids: gateDocuments } : params) as never,
      });
      await recordAudit(tx, caller, 'composition.created', { type: 'composition', id });
      return {
        row: (await tx.composition.findFirstOrThrow({ where: { id }, include: withRelations })) as CompositionRow,
        jobId: job.id,
      };
    });
    await enqueueAfterCommit(this.logger, jobId, () =>
      this.composeQueue.add(
        'compose',
        { jobId, tenantId: caller.tenantId, compositionId: row.id },
        { jobId, ...TRAIN_JOB_OPTIONS },
      ),
    );
    return toCompositionDto(row, caller);
  }

  async list(caller: Caller, query: ListQuery): Promise<Page<CompositionDto>> {
    const args = pageArgs(query);
    const rows = await this.database.readAsTenant(caller, (tx) =>
      tx.composition.findMany({
        ...args,
        where: { ...args.where, ...visible.compositions(caller) },
        include: withRelations,
      }),
    );
    return toPage(rows as CompositionRow[], query, (row) => toCompositionDto(row, caller));
  }

  async get(caller: Caller, id: string): Promise<CompositionDto> {
    const row = await this.database.readAsTenant(caller, (tx) =>
      tx.composition.findFirst({ where: { id, ...visible.compositions(caller) }, include: withRelations }),
    );
    if (!row) throw ProblemException.notFound('composition', id);
    return toCompositionDto(row as CompositionRow, caller);
  }
}

/** A knowledge base shows the caller only the partitions it may see (every other composition's members all are). */
function toCompositionDto(row: CompositionRow, caller: Caller): CompositionDto {
  const job = row.jobs[0];
  const error = (job?.error as { message?: string } | null) ?? null;
  return {
    id: row.id,
    object: 'composition',
    name: row.name,
    version: row.version,
    method: row.method as CompositionDto['method'],
    status: row.status,
    base_model_id: row.members[0]?.adapter.baseModelId ?? null,
    members: row.members
      .filter((m) => mayUseGroup(caller, m.adapter.accessGroupId))
      .map((m) => ({
        adapter_id: m.adapterId,
        adapter: m.adapter.name,
        version: m.adapterVersion?.version ?? null,
        weight: m.weight,
      })),
    params: (row.params as Record<string, unknown>) ?? {},
    access_group_id: row.accessGroupId,
    job_id: job?.id ?? null,
    error: error?.message ?? null,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
