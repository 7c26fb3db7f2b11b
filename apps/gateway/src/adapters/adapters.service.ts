import { Inject, Injectable } from '@nestjs/common';
import type { AdapterDto, AdapterVersionDto, FineTuneMetrics, ListQuery, Page } from '@tessera/contracts';
import { Database, type TenantContext, type TenantTransaction } from '@tessera/db';
import type { AdapterModel, AdapterVersionModel } from '@tessera/db';
import { BLOB_STORES, type TenantBlobStores } from '../common/blob-store.provider.js';
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

  async list(ctx: TenantContext, query: ListQuery): Promise<Page<AdapterDto>> {
    const args = pageArgs(query);
    return this.database.withTenant(ctx, async (tx) => {
      const rows = await tx.adapter.findMany({ ...args, where: { ...args.where, tenantId: ctx.tenantId } });
      const latest = await latestReady(tx, rows.map((r) => r.id));
      return toPage(rows, query, (row) => toAdapterDto(row, latest.get(row.id) ?? null));
    });
  }

  get(ctx: TenantContext, id: string): Promise<AdapterDto> {
    return this.database.withTenant(ctx, async (tx) => toAdapterDto(await findAdapter(tx, ctx, id), (await latestReady(tx, [id])).get(id) ?? null));
  }

  versions(ctx: TenantContext, id: string): Promise<Page<AdapterVersionDto>> {
    return this.database.withTenant(ctx, async (tx) => {
      await findAdapter(tx, ctx, id);
      const rows = await tx.adapterVersion.findMany({ where: { tenantId: ctx.tenantId, adapterId: id }, orderBy: { version: 'asc' }, include: { _count: { select: { documents: true } } } });
      return { data: rows.map(toVersionDto), has_more: false };
    });
  }

  /** A ready version's files in the PEFT format. */
  async file(ctx: TenantContext, id: string, version: number, file: 'adapter_model.safetensors' | 'adapter_config.json'): Promise<Uint8Array | Record<string, unknown>> {
    const { adapter, row, baseModel } = await this.database.withTenant(ctx, async (tx) => {
      const adapter = await findAdapter(tx, ctx, id);
      const row = await tx.adapterVersion.findFirst({ where: { tenantId: ctx.tenantId, adapterId: id, version } });
      if (!row) throw ProblemException.notFound('adapter version', `${id}@${version}`);
      return { adapter, row, baseModel: await tx.baseModel.findFirstOrThrow({ where: { id: adapter.baseModelId } }) };
    });
    if (row.status !== 'ready' || !row.weightsBlob) throw new ProblemException('conflict', `Version ${version} of ${adapter.name} has no weights (status ${row.status})`);
    if (file === 'adapter_model.safetensors') return this.blobs.forTenant(ctx.tenantId).get(row.weightsBlob);
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
      target_modules: [...new Set(row.targetModules.map((m) => m.split('.').at(-1)!))],
      inference_mode: true,
    };
  }
}

async function findAdapter(tx: TenantTransaction, ctx: TenantContext, id: string) {
  const row = await tx.adapter.findFirst({ where: { id, tenantId: ctx.tenantId } });
  if (!row) throw ProblemException.notFound('adapter', id);
  return row;
}

async function latestReady(tx: TenantTransaction, adapterIds: string[]): Promise<Map<string, number>> {
  if (adapterIds.length === 0) return new Map();
  const rows = await tx.adapterVersion.groupBy({ by: ['adapterId'], where: { adapterId: { in: adapterIds }, status: 'ready' }, _max: { version: true } });
  return new Map(rows.map((r) => [r.adapterId, r._max.version!]));
}
