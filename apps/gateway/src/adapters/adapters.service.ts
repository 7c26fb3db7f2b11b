import { Inject, Injectable } from '@nestjs/common';
import {
  newId,
  type AdapterDto,
  type AdapterVersionDto,
  type CreateAdapter,
  type FineTuneMetrics,
  type PlacementDto,
  type ListQuery,
  type Page,
  type PeftConfig,
  type UpdateAdapter,
} from '@tessera/contracts';
import {
  adapterMismatches,
  peftScaling,
  peftTargets,
  readPeftAdapter,
  type DecoderConfig,
} from '@tessera/engine/formats';
import { recordAudit } from '../common/audit.util.js';
import { findReadyBaseModel } from '../base-models/base-models.service.js';
import { findUsableGroup, seesEveryGroup, visible } from '../common/access-rule.js';
import type { Caller } from '../common/caller.js';
import { Database, type TenantTransaction } from '@tessera/db';
import type { AdapterModel, AdapterVersionModel } from '@tessera/db';
import { moveAdapterVersions, releaseBlob } from '@tessera/domain';
import { BLOB_STORES, putUpload, type TenantBlobStores } from '../common/blob-store.provider.js';
import { pageArgs, toPage } from '../common/pagination.util.js';
import { ProblemException } from '../common/problem.exception.js';

function toAdapterDto(row: AdapterModel, latestReady: number | null): AdapterDto {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    base_model_id: row.baseModelId,
    access_group_id: row.accessGroupId,
    status: row.status,
    latest_ready_version: latestReady,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

function toVersionDto(row: AdapterVersionModel & { _count: { documents: number } }): AdapterVersionDto {
  return {
    id: row.id,
    adapter_id: row.adapterId,
    version: row.version,
    status: row.status,
    rank: row.rank,
    alpha: row.alpha,
    target_modules: row.targetModules,
    placement: (row.placement as PlacementDto | null) ?? null,
    seed: row.seed,
    weights_sha256: row.weightsBlob,
    metrics: (row.metrics as FineTuneMetrics | null) ?? null,
    training_job_id: row.trainingJobId,
    document_count: row._count.documents,
    created_at: row.createdAt.toISOString(),
    ready_at: row.readyAt?.toISOString() ?? null,
  };
}

@Injectable()
export class AdaptersService {
  constructor(
    private readonly database: Database,
    @Inject(BLOB_STORES) private readonly blobs: TenantBlobStores,
  ) {}

  async list(caller: Caller, query: ListQuery): Promise<Page<AdapterDto>> {
    const args = pageArgs(query);
    return this.database.readAsTenant(caller, async (tx) => {
      const rows = await tx.adapter.findMany({ ...args, where: { ...args.where, ...visible.adapters(caller) } });
      const latest = await latestReady(
        tx,
        rows.map((r) => r.id),
      );
      return toPage(rows, query, (row) => toAdapterDto(row, latest.get(row.id) ?? null));
    });
  }

  get(caller: Caller, id: string): Promise<AdapterDto> {
    return this.database.readAsTenant(caller, async (tx) =>
      toAdapterDto(await findAdapter(tx, caller, id), (await latestReady(tx, [id])).get(id) ?? null),
    );
  }

  versions(caller: Caller, id: string): Promise<Page<AdapterVersionDto>> {
    return this.database.readAsTenant(caller, async (tx) => {
      await findAdapter(tx, caller, id);
      const rows = await tx.adapterVersion.findMany({
        where: { tenantId: caller.tenantId, adapterId: id },
        orderBy: { version: 'asc' },
        include: { _count: { select: { documents: true } } },
      });
      return { data: rows.map(toVersionDto), has_more: false };
    });
  }

  create(caller: Caller, body: CreateAdapter): Promise<AdapterDto> {
    return this.database.withTenant(caller, async (tx) => {
      const baseModel = await findReadyBaseModel(tx, caller, body.base_model);
      if (body.access_group_id) await findUsableGroup(tx, caller, body.access_group_id);
      if (await tx.adapter.findFirst({ where: { tenantId: caller.tenantId, name: body.name } }))
        throw new ProblemException('conflict', `An adapter named ${body.name} exists`);
      const row = await tx.adapter.create({
        data: {
          id: newId('ad'),
          tenantId: caller.tenantId,
          name: body.name,
          baseModelId: baseModel.id,
          description: body.description ?? null,
          accessGroupId: body.access_group_id ?? null,
        },
      });
      await recordAudit(tx, caller, 'adapter.created', { type: 'adapter', id: row.id });
      return toAdapterDto(row, null);
    });
  }

  update(caller: Caller, id: string, body: UpdateAdapter): Promise<AdapterDto> {
    return this.database.withTenant(caller, async (tx) => {
      const adapter = await findAdapter(tx, caller, id);
      if (adapter.status === 'deleted') throw new ProblemException('conflict', `Adapter ${id} is deleted`);
      if (body.access_group_id !== undefined && body.access_group_id !== adapter.accessGroupId)
        await checkGroupMove(tx, caller, adapter, body.access_group_id);
      const row = await tx.adapter.update({
        where: { id },
        data: {
          ...(body.description !== undefined ? { description: body.description } : {}),
          ...(body.access_group_id !== undefined ? { accessGroupId: body.access_group_id } : {}),
        },
      });
      await recordAudit(tx, caller, 'adapter.updated', { type: 'adapter', id });
      return toAdapterDto(row, (await latestReady(tx, [id])).get(id) ?? null);
    });
  }

  /** Archived adapters keep their weights but are no longer offered for routing. */
  archive(caller: Caller, id: string): Promise<AdapterDto> {
    return this.database.withTenant(caller, async (tx) => {
      const adapter = await findAdapter(tx, caller, id);
      if (adapter.status === 'deleted') throw new ProblemException('conflict', `Adapter ${id} is deleted`);
      const row = await tx.adapter.update({ where: { id }, data: { status: 'archived' } });
      await recordAudit(tx, caller, 'adapter.archived', { type: 'adapter', id });
      return toAdapterDto(row, (await latestReady(tx, [id])).get(id) ?? null);
    });
  }

  /**
   * Erases every version's weights from the blob store (bytes another live version shares,
   * e.g. an identical retrain, stay for it) and keeps the rows, marked deleted, for the record.
   */
  async delete(caller: Caller, id: string): Promise<void> {
    const erase = await this.database.withTenant(caller, async (tx) => {
      await findAdapter(tx, caller, id);
      const versions = await tx.adapterVersion.findMany({
        where: { tenantId: caller.tenantId, adapterId: id, weightsBlob: { not: null } },
      });
      const blobs = [...new Set(versions.map((v) => v.weightsBlob!))];
      const remaining = await tx.adapterVersion.findMany({
        where: { tenantId: caller.tenantId, adapterId: id, status: { not: 'deleted' } },
        select: { id: true },
      });
      await moveAdapterVersions(
        tx,
        caller.tenantId,
        remaining.map((v) => v.id),
        'deleted',
        { data: { weightsBlob: null, deletedAt: new Date() } },
      );
      await tx.adapter.update({ where: { id }, data: { status: 'deleted' } });
      await recordAudit(tx, caller, 'adapter.deleted', { type: 'adapter', id });
      // Its trainings' checkpoints hold its weights too (and optimizer state): they go with it.
      const checkpoints = await tx.checkpoint.findMany({ where: { job: { adapterId: id } }, select: { blob: true } });
      await tx.checkpoint.deleteMany({ where: { job: { adapterId: id } } });
      return [...new Set([...blobs, ...checkpoints.map((c) => c.blob)])];
    });
    // Bytes another row still points to (an identical retrain elsewhere) stay for it.
    const store = this.blobs.forTenant(caller.tenantId);
    for (const sha256 of erase) await releaseBlob(this.database, store, caller, sha256);
  }

  /** Step 1 of an upload in the PEFT format: the config opens version `version` (the next one). */
  putConfig(caller: Caller, id: string, version: number, config: PeftConfig): Promise<AdapterVersionDto> {
    return this.database.withTenant(caller, async (tx) => {
      const adapter = await findAdapter(tx, caller, id);
      if (adapter.status === 'deleted') throw new ProblemException('conflict', `Adapter ${id} is deleted`);
      const existing = await tx.adapterVersion.findFirst({
        where: { tenantId: caller.tenantId, adapterId: id, version },
      });
      const alpha = scalingOf(config).alpha;
      if (existing) {
        if (
          existing.status !== 'queued' ||
          existing.trainingJobId ||
          (await tx.job.findFirst({ where: { adapterVersionId: existing.id } }))
        ) {
          throw new ProblemException(
            'conflict',
            `Version ${version} of ${adapter.name} exists and is not an upload awaiting its weights`,
          );
        }
        const row = await tx.adapterVersion.update({
          where: { id: existing.id },
          data: { rank: config.r, alpha },
          include: { _count: { select: { documents: true } } },
        });
        return toVersionDto(row);
      }
      const last = await tx.adapterVersion.findFirst({ where: { adapterId: id }, orderBy: { version: 'desc' } });
      const next = (last?.version ?? 0) + 1;
      if (version !== next) throw new ProblemException('conflict', `The next version of ${adapter.name} is ${next}`);
      const row = await tx.adapterVersion.create({
        data: {
          id: newId('adv'),
          tenantId: caller.tenantId,
          adapterId: id,
          version,
          rank: config.r,
          alpha,
          targetModules: [],
          seed: 0,
        },
        include: { _count: { select: { documents: true } } },
      });
      await recordAudit(tx, caller, 'adapter_version.uploading', { type: 'adapter_version', id: row.id });
      return toVersionDto(row);
    });
  }

  /**
   * Step 2: the weights, streamed to the blob store, then checked against the base model's
   * shapes. Any mismatch is a 400 listing them all, and nothing is kept.
   */
  async putWeights(
    caller: Caller,
    id: string,
    version: number,
    openBody: () => AsyncIterable<Uint8Array>,
    maxBytes: number,
  ): Promise<AdapterVersionDto> {
    const { row, baseModel } = await this.database.withTenant(caller, async (tx) => {
      const adapter = await findAdapter(tx, caller, id);
      const row = await tx.adapterVersion.findFirst({ where: { tenantId: caller.tenantId, adapterId: id, version } });
      if (!row) throw ProblemException.notFound('adapter version', `${id}@${version}`);
      if (row.status !== 'queued' || (await tx.job.findFirst({ where: { adapterVersionId: row.id } }))) {
        throw new ProblemException(
          'conflict',
          `Version ${version} of ${adapter.name} is not an upload awaiting its weights (status ${row.status})`,
        );
      }
      return { row, baseModel: await tx.baseModel.findFirstOrThrow({ where: { id: adapter.baseModelId } }) };
    });
    const body = openBody();
    const store = this.blobs.forTenant(caller.tenantId);
    const ref = await putUpload(store, body, maxBytes, 'Adapter weights may be');
    // What the engine reads of adapter_config.json was taken at step 1; the modules come from the tensor names.
    const peftConfig = { peft_type: 'LORA', r: row.rank, lora_alpha: row.alpha };
    let problems: string[];
    let modules: string[] = [];
    try {
      const adapter = readPeftAdapter({ config: peftConfig, weights: await store.get(ref.sha256) });
      problems =
        adapter.rank === row.rank
          ? adapterMismatches(adapter, baseModel.config as unknown as DecoderConfig)
          : [`the tensors have rank ${adapter.rank}, adapter_config.json says ${row.rank}`];
      modules = adapter.targetModules;
    } catch (error) {
      problems = [(error as Error).message];
    }
    if (problems.length) {
      await releaseBlob(this.database, store, caller, ref.sha256);
      throw new ProblemException(
        'validation',
        `adapter_model.safetensors does not fit ${baseModel.name}; nothing was stored`,
        problems.slice(0, 20).map((message) => ({ field: 'body', message })),
      );
    }
    return this.database.withTenant(caller, async (tx) => {
      // Another upload of the same version may have landed meanwhile: only a version still awaiting its weights turns ready.
      const uploaded = await moveAdapterVersions(tx, caller.tenantId, [row.id], 'ready', {
        data: { weightsBlob: ref.sha256, targetModules: modules, readyAt: new Date() },
        ifAllowed: true,
      });
      if (!uploaded)
        throw new ProblemException('conflict', `Version ${version} received its weights from another upload meanwhile`);
      const updated = await tx.adapterVersion.findFirstOrThrow({
        where: { id: row.id },
        include: { _count: { select: { documents: true } } },
      });
      await recordAudit(tx, caller, 'adapter_version.uploaded', { type: 'adapter_version', id: row.id });
      return toVersionDto(updated);
    });
  }

  /** A ready version's files in the PEFT format. */
  async file(
    caller: Caller,
    id: string,
    version: number,
    file: 'adapter_model.safetensors' | 'adapter_config.json',
  ): Promise<Uint8Array | Record<string, unknown>> {
    const { adapter, row, baseModel } = await this.database.withTenant(caller, async (tx) => {
      const adapter = await findAdapter(tx, caller, id);
      const row = await tx.adapterVersion.findFirst({ where: { tenantId: caller.tenantId, adapterId: id, version } });
      if (!row) throw ProblemException.notFound('adapter version', `${id}@${version}`);
      return { adapter, row, baseModel: await tx.baseModel.findFirstOrThrow({ where: { id: adapter.baseModelId } }) };
    });
    if (row.status !== 'ready' || !row.weightsBlob)
      throw new ProblemException(
        'conflict',
        `Version ${version} of ${adapter.name} has no weights (status ${row.status})`,
      );
    if (file === 'adapter_model.safetensors') return this.blobs.forTenant(caller.tenantId).get(row.weightsBlob);
    const gpt2 = baseModel.architecture === 'gpt2';
    return {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: baseModel.name,
      r: row.rank,
      lora_alpha: row.alpha,
      lora_dropout: 0,
      bias: 'none',
      fan_in_fan_out: gpt2,
      // A placed adapter holds some layers' projections only: name exactly those, as the engine writes them.
      ...(row.placement
        ? peftTargets((row.placement as PlacementDto).chosen)
        : { target_modules: [...new Set(row.targetModules.map((m) => m.split('.').at(-1)!))] }),
      inference_mode: true,
    };
  }
}

async function findAdapter(tx: TenantTransaction, caller: Caller, id: string) {
  const row = await tx.adapter.findFirst({ where: { id, ...visible.adapters(caller) } });
  if (!row) throw ProblemException.notFound('adapter', id);
  return row;
}

/**
 * Moving an adapter changes who may use what it learned: only an admin may, and only to a
 * group that covers every document any of its versions trained on (docs/access.md).
 */
async function checkGroupMove(
  tx: TenantTransaction,
  caller: Caller,
  adapter: { id: string; name: string },
  to: string | null,
): Promise<void> {
  if (!seesEveryGroup(caller))
    throw new ProblemException('forbidden', 'Moving an adapter to another access group needs the "admin" scope');
  if (to) await findUsableGroup(tx, caller, to);
  const trained = await tx.document.findMany({
    where: {
      tenantId: caller.tenantId,
      accessGroupId: { not: null },
      trainedVersions: { some: { adapterVersion: { adapterId: adapter.id } } },
    },
    select: { accessGroupId: true },
    distinct: ['accessGroupId'],
  });
  const uncovered = trained.map((d) => d.accessGroupId!).filter((group) => group !== to);
  if (uncovered.length) {
    throw new ProblemException(
      'conflict',
      `${adapter.name} was trained on documents of access group ${uncovered.join(', ')}; moving it to ${to ?? 'no group'} would let callers outside that group use them`,
      [{ field: 'body.access_group_id', message: 'must cover the groups of the documents it trained on' }],
    );
  }
}

async function latestReady(tx: TenantTransaction, adapterIds: string[]): Promise<Map<string, number>> {
  if (adapterIds.length === 0) return new Map();
  const rows = await tx.adapterVersion.groupBy({
    by: ['adapterId'],
    where: { adapterId: { in: adapterIds }, status: 'ready' },
    _max: { version: true },
  });
  return new Map(rows.map((r) => [r.adapterId, r._max.version!]));
}

/** The engine reads α as PEFT does (default 8, rsLoRA folded in); what it refuses is a 400 naming the field. */
function scalingOf(config: PeftConfig): { rank: number; alpha: number } {
  try {
    return peftScaling(config);
  } catch (error) {
    throw new ProblemException('validation', (error as Error).message);
  }
}
