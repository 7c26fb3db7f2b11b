import { Inject, Injectable, Logger } from '@nestjs/common';
import { newId, type CreateDeletion, type DeletionDto, type ListQuery, type Page } from '@tessera/contracts';
import { Database, type TenantTransaction } from '@tessera/db';
import { TRAIN_JOB_OPTIONS } from '@tessera/queue';
import { createJob, moveAdapterVersions, moveCompositions, moveDocuments } from '@tessera/domain';
import { enqueueDeliveries } from '@tessera/webhooks';
import { enqueueAfterCommit } from '../common/enqueue-after-commit.js';
import { recordAudit } from '../common/audit.util.js';
import { seesEveryGroup, visible } from '../common/access-rule.js';
import type { Caller } from '../common/caller.js';
import { pageArgs, toPage } from '../common/pagination.util.js';
import { ProblemException } from '../common/problem.exception.js';
import { TRAIN_QUEUE, WEBHOOK_QUEUE, type TrainQueue, type WebhookQueue } from '../common/queues.provider.js';
import { namedObjects, toDeletionDto, type DeletionRow, type ShownObjects } from './deletion.mapper.js';

const withRelations = {
  documents: { select: { documentId: true } },
  affectedVersions: { select: { adapterVersionId: true } },
} as const;

@Injectable()
export class DeletionsService {
  private readonly logger = new Logger(DeletionsService.name);

  constructor(
    private readonly database: Database,
    @Inject(TRAIN_QUEUE) private readonly trainQueue: TrainQueue,
    @Inject(WEBHOOK_QUEUE) private readonly webhooks: WebhookQueue,
  ) {}

  /**
   * In one transaction: the documents turn `deleting`, every adapter version they trained
   * turns `stale` (routing serves only ready versions, so they are out at commit), and a
   * deletion job is recorded. The worker then erases, retrains and audits.
   */
  async create(caller: Caller, body: CreateDeletion, pathDatasetId?: string): Promise<DeletionDto> {
    const { row, shown, jobId, deliveryIds } = await this.database.withTenant(caller, async (tx) => {
      const documents: NonNullable<Awaited<ReturnType<typeof findDocument>>>[] = [];
      for (const [i, target] of body.documents.entries()) {
        const doc = await findDocument(tx, caller, target, pathDatasetId);
        if (!doc)
          throw new ProblemException(
            'not-found',
            `No document ${'dataset_id' in target ? `${target.document_id} in dataset ${target.dataset_id}` : target.document_id}`,
            [{ field: pathDatasetId ? 'path.document_id' : `body.documents.${i}`, message: 'not found' }],
          );
        if (doc.status !== 'active') {
          const pending = await tx.deletionDocument.findFirst({
            where: { documentId: doc.id },
            orderBy: { deletionRequestId: 'desc' },
          });
          throw new ProblemException(
            'conflict',
            `Document ${doc.id} is already ${doc.status === 'deleted' ? 'deleted' : 'being deleted'}${pending ? ` (deletion ${pending.deletionRequestId})` : ''}`,
          );
        }
        if (!documents.some((d) => d.id === doc.id)) documents.push(doc);
      }
      const id = newId('del');
      const trained = await tx.adapterVersionDocument.findMany({
        where: { tenantId: caller.tenantId, documentId: { in: documents.map((d) => d.id) } },
        include: { adapterVersion: true },
      });
      const affected = [
        ...new Map(
          trained
            .filter((t) => !['archived', 'deleted'].includes(t.adapterVersion.status))
            .map((t) => [t.adapterVersionId, t.adapterVersion]),
        ).values(),
      ];
      const compositions = await compositionsBuiltOn(
        tx,
        caller.tenantId,
        affected,
        documents.map((d) => d.id),
      );
      const now = new Date();
      await tx.deletionRequest.create({
        data: {
          id,
          tenantId: caller.tenantId,
          status: 'pending',
          reason: body.reason ?? null,
          // The worker rebuilds exactly these compositions once their members are retrained.
          steps: [
            {
              name: 'marked_stale',
              at: now.toISOString(),
              detail: { versions: affected.length, compositions: compositions.map((c) => c.id) },
            },
          ] as never,
        },
      });
      await tx.deletionDocument.createMany({
        data: documents.map((d) => ({ tenantId: caller.tenantId, deletionRequestId: id, documentId: d.id })),
      });
      await moveDocuments(
        tx,
        caller.tenantId,
        documents.map((d) => d.id),
        'deleting',
      );
      const staleVersions = await moveAdapterVersions(
        tx,
        caller.tenantId,
        affected.map((v) => v.id),
        'stale',
        {
          webhooks: [...new Set(affected.map((v) => v.adapterId))].map((adapterId) => ({
            type: 'adapter.stale' as const,
            data: { id: adapterId, deletion_id: id },
          })),
        },
      );
      // Out of serving and of /v1/models at commit, like the versions they were built on.
      const staleCompositions = await moveCompositions(
        tx,
        caller.tenantId,
        compositions.map((c) => c.id),
        'stale',
        {
          webhooks: compositions.map((c) => ({
            type: 'composition.stale' as const,
            data: { id: c.id, name: c.name, version: c.version, deletion_id: id },
          })),
        },
      );
      await tx.deletionAffectedVersion.createMany({
        data: affected.map((v) => ({ tenantId: caller.tenantId, deletionRequestId: id, adapterVersionId: v.id })),
      });
      const job = await createJob(tx, {
        tenantId: caller.tenantId,
        kind: 'retrain',
        deletionRequestId: id,
        params: {},
      });
      const deliveryIds = [...staleVersions!.deliveryIds, ...staleCompositions!.deliveryIds];
      await recordAudit(tx, caller, 'deletion.created', { type: 'deletion', id });
      const created = await tx.deletionRequest.findFirstOrThrow({ where: { id }, include: withRelations });
      return {
        row: created,
        shown: await shownTo(tx, caller, [created]),
        jobId: job.id,
        deliveryIds,
      };
    });
    await enqueueAfterCommit(this.logger, `webhooks for ${row.id}`, () =>
      enqueueDeliveries(this.webhooks, caller.tenantId, deliveryIds),
    );
    await enqueueAfterCommit(this.logger, `deletion ${row.id}`, () =>
      this.trainQueue.add('deletion', { jobId, tenantId: caller.tenantId }, { jobId, ...TRAIN_JOB_OPTIONS }),
    );
    return toDeletionDto(row, shown);
  }

  async list(caller: Caller, query: ListQuery): Promise<Page<DeletionDto>> {
    const args = pageArgs(query);
    const { rows, shown } = await this.database.readAsTenant(caller, async (tx) => {
      const rows = await tx.deletionRequest.findMany({
        ...args,
        where: { ...args.where, ...visible.deletions(caller) },
        include: withRelations,
      });
      return { rows, shown: await shownTo(tx, caller, rows) };
    });
    return toPage(rows, query, (row) => toDeletionDto(row, shown));
  }

  async get(caller: Caller, id: string): Promise<DeletionDto> {
    const found = await this.database.readAsTenant(caller, async (tx) => {
      const row = await tx.deletionRequest.findFirst({
        where: { id, ...visible.deletions(caller) },
        include: withRelations,
      });
      return row && { row, shown: await shownTo(tx, caller, [row]) };
    });
    if (!found) throw ProblemException.notFound('deletion', id);
    return toDeletionDto(found.row, found.shown);
  }
}

/** Which of the objects these deletions name the caller may see (docs/access.md). */
async function shownTo(tx: TenantTransaction, caller: Caller, rows: DeletionRow[]): Promise<ShownObjects> {
  if (seesEveryGroup(caller)) return 'all';
  const named = rows.map(namedObjects);
  const ids = (kind: 'versions' | 'adapters' | 'compositions') => [...new Set(named.flatMap((n) => n[kind]))];
  const [versions, adapters, compositions] = await Promise.all([
    tx.adapterVersion.findMany({
      where: { ...visible.adapterVersions(caller), id: { in: ids('versions') } },
      select: { id: true },
    }),
    tx.adapter.findMany({ where: { ...visible.adapters(caller), id: { in: ids('adapters') } }, select: { id: true } }),
    tx.composition.findMany({
      where: { ...visible.compositions(caller), id: { in: ids('compositions') } },
      select: { id: true },
    }),
  ]);
  const set = (found: { id: string }[]) => new Set(found.map((f) => f.id));
  return { versions: set(versions), adapters: set(adapters), compositions: set(compositions) };
}

/**
 * Compositions that carry what the stale versions learned: merges and learned gates pinned to
 * one of them, knowledge bases with one of their adapters as a partition (they follow each
 * partition's latest ready version), and learned gates trained on one of the documents. Failed and archived ones are left as they are; stale ones
 * (another deletion's) are listed again, so that the last deletion to finish rebuilds them.
 */
async function compositionsBuiltOn(
  tx: TenantTransaction,
  tenantId: string,
  versions: { id: string; adapterId: string }[],
  documentIds: string[],
) {
  return tx.composition.findMany({
    where: {
      tenantId,
      // Already stale ones too: this deletion rebuilds them over its own replacements.
      status: { in: ['queued', 'building', 'ready', 'stale'] },
      OR: [
        { method: { not: 'centroid' }, members: { some: { adapterVersionId: { in: versions.map((v) => v.id) } } } },
        { method: 'centroid', members: { some: { adapterId: { in: versions.map((v) => v.adapterId) } } } },
        // A learned gate trained on the documents themselves (its compose job names them).
        ...documentIds.map((id) => ({
          jobs: { some: { kind: 'compose' as const, params: { path: ['document_ids'], array_contains: [id] } } },
        })),
      ],
    },
    select: { id: true, name: true, version: true },
    orderBy: { id: 'asc' },
  });
}

/** Only a document the caller may see can be deleted by it; any other is as unknown. */
async function findDocument(
  tx: TenantTransaction,
  caller: Caller,
  target: CreateDeletion['documents'][number],
  pathDatasetId?: string,
) {
  if ('dataset_id' in target)
    return tx.document.findFirst({
      where: { ...visible.documents(caller), datasetId: target.dataset_id, externalId: target.document_id },
    });
  return tx.document.findFirst({
    where: {
      ...visible.documents(caller),
      id: target.document_id,
      ...(pathDatasetId ? { datasetId: pathDatasetId } : {}),
    },
  });
}
