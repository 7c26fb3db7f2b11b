import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  newId,
  withHyperparameterDefaults,
  type CheckpointDto,
  type CreateFineTune,
  type FineTune,
  type Hyperparameters,
  type JobEventDto,
  type ListQuery,
  type Page,
} from '@tessera/contracts';
import { Database, type TenantContext, type TenantTransaction } from '@tessera/db';
import { QUEUES, TRAIN_JOB_OPTIONS, type TrainJobName } from '@tessera/queue';
import type { FlowProducer } from 'bullmq';
import { enqueueAfterCommit } from '../common/enqueue-after-commit.js';
import { FLOW_PRODUCER } from '../common/flow.provider.js';
import { planPartitions } from './partitions.js';
import { recordAudit } from '../common/audit.util.js';
import { findReadyBaseModel } from '../base-models/base-models.service.js';
import { checkGroupCovers, findUsableGroup, mayUseGroup, soleGroupOf, visible } from '../common/access-rule.js';
import type { Caller } from '../common/caller.js';
import { pageArgs, toPage } from '../common/pagination.util.js';
import { ProblemException } from '../common/problem.exception.js';
import { TRAIN_QUEUE, WEBHOOK_QUEUE, type TrainQueue, type WebhookQueue } from '../common/queues.provider.js';
import { targetModulesOf } from '@tessera/engine/formats';
import { enqueueDeliveries } from '@tessera/webhooks';
import { createJob, endFineTune } from '@tessera/domain';
import { toCheckpointDto, toFineTuneDto, toJobEventDto, type FineTuneParams } from './fine-tune.mapper.js';

/** What a fine-tune over documents of several groups should do instead. */
const FINE_TUNE_HINT = 'fine-tune with partition_by: "access_group" (an adapter per group), or split the dataset';

@Injectable()
export class FineTunesService {
  private readonly logger = new Logger(FineTunesService.name);

  constructor(
    private readonly database: Database,
    @Inject(TRAIN_QUEUE) private readonly trainQueue: TrainQueue,
    @Inject(WEBHOOK_QUEUE) private readonly webhooks: WebhookQueue,
    @Inject(FLOW_PRODUCER) private readonly flows: FlowProducer,
  ) {}

  /**
   * Records the job, its adapter and the version it will produce, then enqueues it. Postgres
   * is the source of truth; the queue only says "job X is waiting".
   */
  async create(caller: Caller, body: CreateFineTune): Promise<FineTune> {
    if (body.partition_by && body.access_group_id !== undefined) {
      throw new ProblemException(
        'validation',
        "access_group_id does not go with partition_by: each partition takes its documents' group",
        [{ field: 'body.access_group_id', message: 'not with partition_by' }],
      );
    }
    if (body.partition_by) return this.createPartitioned(caller, body);
    if (body.max_documents_per_partition !== undefined) {
      throw new ProblemException('validation', 'max_documents_per_partition needs partition_by', [
        { field: 'body.max_documents_per_partition', message: 'only with partition_by' },
      ]);
    }
    const job = await this.database.withTenant(caller, async (tx) => {
      const { dataset, baseModel, h } = await trainingInputs(tx, caller, body);

      if (body.access_group_id) await findUsableGroup(tx, caller, body.access_group_id);
      let adapter = await tx.adapter.findFirst({ where: { tenantId: caller.tenantId, name: body.adapter_name } });
      if (adapter && !mayUseGroup(caller, adapter.accessGroupId))
        throw new ProblemException(
          'conflict',
          `An adapter named ${body.adapter_name} exists in an access group this key may not use; choose another name`,
        );
      if (adapter && adapter.baseModelId !== baseModel.id) {
        throw new ProblemException(
          'conflict',
          `Adapter ${body.adapter_name} belongs to another base model (${adapter.baseModelId})`,
        );
      }
      // Training a new version never moves an adapter between groups: that is an explicit PATCH.
      if (adapter && body.access_group_id !== undefined && adapter.accessGroupId !== body.access_group_id) {
        throw new ProblemException(
          'conflict',
          `Adapter ${body.adapter_name} is in ${adapter.accessGroupId ? `access group ${adapter.accessGroupId}` : 'no access group'}, not ${body.access_group_id}; change it with PATCH /v1/adapters/${adapter.id}`,
          [{ field: 'body.access_group_id', message: "differs from the adapter's group" }],
        );
      }
      // Only documents the caller may read, and only into an adapter whose group covers theirs.
      const documents = await tx.document.findMany({
        where: { ...visible.documents(caller), datasetId: dataset.id, status: 'active' },
        select: { id: true, accessGroupId: true },
      });
      const group = adapter ? adapter.accessGroupId : (body.access_group_id ?? soleGroupOf(documents, FINE_TUNE_HINT));
      checkGroupCovers(documents, group, body.adapter_name, FINE_TUNE_HINT);
      adapter ??= await tx.adapter.create({
        data: {
          id: newId('ad'),
          tenantId: caller.tenantId,
          name: body.adapter_name,
          baseModelId: baseModel.id,
          accessGroupId: group,
        },
      });
      const last = await tx.adapterVersion.findFirst({
        where: { adapterId: adapter.id },
        orderBy: { version: 'desc' },
      });
      const version = await tx.adapterVersion.create({
        data: {
          id: newId('adv'),
          tenantId: caller.tenantId,
          adapterId: adapter.id,
          version: (last?.version ?? 0) + 1,
          rank: h.rank,
          alpha: h.alpha,
          // "auto": the worker's probe fills in the modules it places (with the placement itself).
          targetModules: h.target_modules === 'auto' ? [] : (h.target_modules ?? projectionsOf(baseModel.architecture)),
          seed: h.seed,
        },
      });
      // Recorded now, not when training ends: a deletion made meanwhile finds this version.
      await tx.adapterVersionDocument.createMany({
        data: documents.map((d) => ({ tenantId: caller.tenantId, adapterVersionId: version.id, documentId: d.id })),
      });
      const params: FineTuneParams = { hyperparameters: h, validation_split: body.validation_split ?? 0.1 };
      const row = await createJob(tx, {
        tenantId: caller.tenantId,
        kind: 'fine_tune',
        baseModelId: baseModel.id,
        datasetId: dataset.id,
        adapterId: adapter.id,
        adapterVersionId: version.id,
        params: params as never,
      });
      await recordAudit(tx, caller, 'fine_tune.created', { type: 'job', id: row.id });
      return row;
    });
    // The job id is BullMQ's job id too: enqueueing twice cannot make two jobs.
    await enqueueAfterCommit(this.logger, job.id, () =>
      this.trainQueue.add(
        'fine_tune',
        { jobId: job.id, tenantId: caller.tenantId },
        { jobId: job.id, ...TRAIN_JOB_OPTIONS },
      ),
    );
    return toFineTuneDto(job);
  }

  /**
   * AdapterSwap: the dataset's documents not yet in a partition of the knowledge base
   * `adapter_name`, grouped by access group, each partition an adapter of that group with a
   * fine-tune of its own; a parent job waits for them all (a BullMQ flow). The knowledge base
   * is a composition routed per request over the partitions the caller may see. Which
   * documents train which version is recorded now, so a deletion finds them even mid-training.
   */
  private async createPartitioned(caller: Caller, body: CreateFineTune): Promise<FineTune> {
    const { parent, children } = await this.database.withTenant(caller, async (tx) => {
      const { dataset, baseModel, h } = await trainingInputs(tx, caller, body);
      if (await tx.adapter.findFirst({ where: { tenantId: caller.tenantId, name: body.adapter_name } })) {
        throw new ProblemException(
          'conflict',
          `${body.adapter_name} names an adapter; a knowledge base needs a name of its own`,
        );
      }
      let knowledgeBase = await tx.composition.findFirst({
        where: { tenantId: caller.tenantId, name: body.adapter_name },
        include: { members: { include: { adapter: true } } },
        orderBy: { version: 'desc' },
      });
      if (knowledgeBase && knowledgeBase.method !== 'centroid')
        throw new ProblemException(
          'conflict',
          `${body.adapter_name} names a ${knowledgeBase.method} composition, not a knowledge base`,
        );
      if (knowledgeBase && knowledgeBase.members.some((m) => m.adapter.baseModelId !== baseModel.id))
        throw new ProblemException('conflict', `Knowledge base ${body.adapter_name} is on another base model`);
      knowledgeBase ??= await tx.composition.create({
        data: {
          id: newId('cmp'),
          tenantId: caller.tenantId,
          name: body.adapter_name,
          method: 'centroid',
          status: 'ready',
          params: {},
        },
        include: { members: { include: { adapter: true } } },
      });

      // Continual: documents some live partition already holds are not trained again.
      const members = knowledgeBase.members.map((m) => m.adapterId);
      const held = await tx.adapterVersionDocument.findMany({
        where: {
          tenantId: caller.tenantId,
          adapterVersion: { adapterId: { in: members }, status: { in: ['queued', 'training', 'ready'] } },
        },
        select: { documentId: true },
      });
      const taken = new Set(held.map((d) => d.documentId));
      const documents = (
        await tx.document.findMany({
          where: { ...visible.documents(caller), datasetId: dataset.id, status: 'active' },
          orderBy: { externalId: 'asc' },
        })
      ).filter((d) => !taken.has(d.id));
      if (documents.length === 0)
        throw new ProblemException(
          'conflict',
          `Every document of dataset ${dataset.id} this key may read is already in a partition of ${body.adapter_name}`,
        );
      const partitions = planPartitions(documents, body.max_documents_per_partition);

      const params: FineTuneParams = { hyperparameters: h, validation_split: body.validation_split ?? 0.1 };
      const parent = await createJob(
        tx,
        {
          tenantId: caller.tenantId,
          kind: 'fine_tune',
          baseModelId: baseModel.id,
          datasetId: dataset.id,
          compositionId: knowledgeBase.id,
          params: { ...params, partition_by: 'access_group' } as never,
        },
        { message: `queued: ${partitions.length} partitions` },
      );
      const children = [];
      for (const [i, partition] of partitions.entries()) {
        const adapter = await tx.adapter.create({
          data: {
            id: newId('ad'),
            tenantId: caller.tenantId,
            name: `${body.adapter_name}.p${members.length + i + 1}`,
            baseModelId: baseModel.id,
            accessGroupId: partition.accessGroupId,
            description: `Partition of knowledge base ${body.adapter_name}`,
          },
        });
        const version = await tx.adapterVersion.create({
          data: {
            id: newId('adv'),
            tenantId: caller.tenantId,
            adapterId: adapter.id,
            version: 1,
            rank: h.rank,
            alpha: h.alpha,
            // "auto": the worker's probe fills in the modules it places (with the placement itself).
            targetModules:
              h.target_modules === 'auto' ? [] : (h.target_modules ?? projectionsOf(baseModel.architecture)),
            seed: h.seed,
            partitionKey: `${partition.accessGroupId ?? 'tenant'}/${members.length + i + 1}`,
          },
        });
        await tx.adapterVersionDocument.createMany({
          data: partition.documentIds.map((documentId) => ({
            tenantId: caller.tenantId,
            adapterVersionId: version.id,
            documentId,
          })),
        });
        await tx.compositionMember.create({
          data: { tenantId: caller.tenantId, compositionId: knowledgeBase.id, adapterId: adapter.id },
        });
        const child = await createJob(tx, {
          tenantId: caller.tenantId,
          kind: 'fine_tune',
          parentJobId: parent.id,
          baseModelId: baseModel.id,
          datasetId: dataset.id,
          adapterId: adapter.id,
          adapterVersionId: version.id,
          params: { ...params, document_ids: partition.documentIds } as never,
        });
        children.push(child);
      }
      await recordAudit(tx, caller, 'fine_tune.created', { type: 'job', id: parent.id });
      return { parent, children };
    });
    await enqueueAfterCommit(this.logger, parent.id, () =>
      this.flows.add({
        name: 'partitioned' satisfies TrainJobName,
        queueName: QUEUES.train,
        data: { jobId: parent.id, tenantId: caller.tenantId },
        opts: { jobId: parent.id, ...TRAIN_JOB_OPTIONS },
        // A failed partition does not block the parent: it reports the failure.
        children: children.map((child) => ({
          name: 'fine_tune' satisfies TrainJobName,
          queueName: QUEUES.train,
          data: { jobId: child.id, tenantId: caller.tenantId },
          opts: { jobId: child.id, ...TRAIN_JOB_OPTIONS, ignoreDependencyOnFailure: true },
        })),
      }),
    );
    return this.get(caller, parent.id);
  }

  async list(caller: Caller, query: ListQuery): Promise<Page<FineTune>> {
    const args = pageArgs(query);
    const rows = await this.database.readAsTenant(caller, (tx) =>
      tx.job.findMany({ ...args, where: { ...args.where, ...visible.jobs(caller), kind: 'fine_tune' } }),
    );
    return toPage(rows, query, (row) => toFineTuneDto(row));
  }

  async get(caller: Caller, id: string): Promise<FineTune> {
    return this.database.readAsTenant(caller, async (tx) => {
      const row = await findJob(tx, caller, id);
      // A knowledge base's other groups' partitions are not the caller's to see.
      const children = await tx.job.findMany({
        where: { ...visible.jobs(caller), parentJobId: id },
        orderBy: { id: 'asc' },
        include: { adapter: true },
      });
      // One count query for every partition, not one each.
      const counted = await tx.adapterVersionDocument.groupBy({
        by: ['adapterVersionId'],
        where: { adapterVersionId: { in: children.map((c) => c.adapterVersionId!) } },
        _count: { _all: true },
      });
      const documents = new Map(counted.map((c) => [c.adapterVersionId, c._count._all]));
      return toFineTuneDto(
        row,
        children.map((c) => ({
          job_id: c.id,
          adapter_id: c.adapterId!,
          adapter_version_id: c.adapterVersionId!,
          access_group_id: c.adapter?.accessGroupId ?? null,
          documents: documents.get(c.adapterVersionId!) ?? 0,
        })),
      );
    });
  }

  /**
   * A queued job is taken off the queue and cancelled at once; a running one is flagged and
   * its worker stops within a step, keeping a checkpoint.
   */
  async cancel(caller: Caller, id: string): Promise<FineTune> {
    const job = await this.database.withTenant(caller, async (tx) => {
      const row = await findJob(tx, caller, id);
      if (row.status !== 'queued' && row.status !== 'running')
        throw new ProblemException('conflict', `Fine-tune ${id} has already ended (${row.status})`);
      await recordAudit(tx, caller, 'fine_tune.cancel_requested', { type: 'job', id });
      return tx.job.update({ where: { id }, data: { cancelRequestedAt: row.cancelRequestedAt ?? new Date() } });
    });
    if (job.status === 'queued') {
      const queued = await this.trainQueue.getJob(id);
      // remove() fails while a worker holds the job's lock: then the worker cancels it.
      const removed = queued
        ? await queued.remove().then(
            () => true,
            () => false,
          )
        : true;
      if (removed) return toFineTuneDto(await this.finish(caller, id, 'cancelled', null));
    }
    return toFineTuneDto(job);
  }

  async events(caller: Caller, id: string, query: ListQuery): Promise<Page<JobEventDto>> {
    const args = pageArgs(query);
    const rows = await this.database.readAsTenant(caller, async (tx) => {
      await findJob(tx, caller, id);
      return tx.jobEvent.findMany({ ...args, where: { ...args.where, tenantId: caller.tenantId, jobId: id } });
    });
    return toPage(rows, query, toJobEventDto);
  }

  async checkpoints(caller: Caller, id: string): Promise<Page<CheckpointDto>> {
    const rows = await this.database.readAsTenant(caller, async (tx) => {
      await findJob(tx, caller, id);
      return tx.checkpoint.findMany({ where: { tenantId: caller.tenantId, jobId: id }, orderBy: { step: 'asc' } });
    });
    return { data: rows.map(toCheckpointDto), has_more: false };
  }

  private async finish(
    ctx: TenantContext,
    id: string,
    status: 'failed' | 'cancelled',
    error: { message: string } | null,
  ) {
    const { row, deliveryIds } = await this.database.withTenant(ctx, async (tx) => {
      const deliveryIds = await endFineTune(
        tx,
        ctx.tenantId,
        await tx.job.findFirstOrThrow({ where: { id } }),
        status,
        error?.message ?? null,
      );
      return { row: await tx.job.findFirstOrThrow({ where: { id } }), deliveryIds };
    });
    await enqueueAfterCommit(this.logger, `webhooks for ${id}`, () =>
      enqueueDeliveries(this.webhooks, ctx.tenantId, deliveryIds),
    );
    return row;
  }
}

export async function findJob(tx: TenantTransaction, caller: Caller, id: string) {
  const row = await tx.job.findFirst({ where: { id, ...visible.jobs(caller), kind: 'fine_tune' } });
  if (!row) throw ProblemException.notFound('fine-tune', id);
  return row;
}

/** The dataset (with content), the ready base model and the hyperparameters (with defaults, checked against the model). */
async function trainingInputs(tx: TenantTransaction, caller: Caller, body: CreateFineTune) {
  const dataset = await tx.dataset.findFirst({ where: { id: body.dataset_id, tenantId: caller.tenantId } });
  if (!dataset) throw ProblemException.notFound('dataset', body.dataset_id);
  if (dataset.status !== 'ready')
    throw new ProblemException(
      'conflict',
      `Dataset ${dataset.id} has no content yet (status ${dataset.status}): upload it first`,
    );
  const baseModel = await findReadyBaseModel(tx, caller, body.base_model);
  const h = withHyperparameterDefaults(body.hyperparameters);
  checkAgainstModel(h, baseModel.architecture, baseModel.config as { maxPositions: number });
  return { dataset, baseModel, h };
}

/** The projections a LoRA adapter of this architecture may target (all of them by default): the engine's lists. */
function projectionsOf(architecture: 'gpt2' | 'llama'): string[] {
  return [...targetModulesOf(architecture)];
}

/** What only the base model can say about the request: its projections and context length. */
function checkAgainstModel(h: Hyperparameters, architecture: 'gpt2' | 'llama', config: { maxPositions: number }): void {
  const errors = [];
  const modules = projectionsOf(architecture);
  if (h.placement && h.target_modules !== 'auto')
    errors.push({
      field: 'body.hyperparameters.placement',
      message: 'placement chooses where target_modules "auto" puts the adapter: set target_modules to "auto"',
    });
  for (const [i, m] of (h.target_modules === 'auto' ? [] : (h.target_modules ?? [])).entries()) {
    if (!modules.includes(m))
      errors.push({
        field: `body.hyperparameters.target_modules.${i}`,
        message: `${m} is not a projection of this ${architecture} model (${modules.join(', ')})`,
      });
  }
  if (h.max_sequence_length > config.maxPositions) {
    errors.push({
      field: 'body.hyperparameters.max_sequence_length',
      message: `the base model reads at most ${config.maxPositions} tokens`,
    });
  }
  if (errors.length) throw new ProblemException('validation', 'The hyperparameters do not fit the base model', errors);
}
