import { Inject, Injectable } from '@nestjs/common';
import {
  checkpointIndexSchema,
  newId,
  type BaseModelDto,
  type BaseModelTokenizer,
  type CheckpointIndex,
  type RegisterBaseModel,
  type StoredShards,
} from '@tessera/contracts';
import { releaseBlob } from '@tessera/domain';
import { Database, Prisma, type TenantContext, type TenantTransaction } from '@tessera/db';
import type { BaseModelModel } from '@tessera/db';
import { decoderConfigFromHf, type DecoderConfig } from '@tessera/engine/formats';
import { blobFile } from '@tessera/storage';
import type { Caller } from '../common/caller.js';
import { BLOB_STORES, putUpload, type TenantBlobStores } from '../common/blob-store.provider.js';
import { recordAudit } from '../common/audit.util.js';
import { ProblemException } from '../common/problem.exception.js';
import { checkpointProblems, checkpointRefused, SINGLE_SHARD, tokenizerProblem } from './checkpoint-checks.js';

export function toBaseModelDto(row: BaseModelModel): BaseModelDto {
  return {
    id: row.id,
    name: row.name,
    architecture: row.architecture,
    config: row.config as Record<string, unknown>,
    owner: row.tenantId ? 'tenant' : 'platform',
    status: row.status,
    precision: row.precision,
    has_tokenizer: row.tokenizerBlob !== null,
    created_at: row.createdAt.toISOString(),
  };
}

/** A base model the tenant may use (its own or the platform's), by id or name; the tenant's own wins a name clash. */
export async function findBaseModel(
  tx: TenantTransaction,
  ctx: TenantContext,
  idOrName: string,
): Promise<BaseModelModel> {
  const rows = await tx.baseModel.findMany({
    where: {
      OR: [{ id: idOrName }, { name: idOrName }],
      AND: [{ OR: [{ tenantId: null }, { tenantId: ctx.tenantId }] }],
    },
  });
  const row = rows.find((r) => r.tenantId) ?? rows[0];
  if (!row) throw ProblemException.notFound('base model', idOrName);
  return row;
}

/** A base model that can be trained on and served: an import not yet validated whole is a 409. */
export async function findReadyBaseModel(
  tx: TenantTransaction,
  ctx: TenantContext,
  idOrName: string,
): Promise<BaseModelModel> {
  const row = await findBaseModel(tx, ctx, idOrName);
  if (row.status !== 'ready')
    throw new ProblemException(
      'conflict',
      `Base model ${row.name} has no weights yet: finish its upload (every shard, then POST …/complete) first`,
    );
  return row;
}

/**
 * The tenant's own import, still taking files: the platform's models and ready ones are a 409.
 * Its row is locked for the transaction, so changes to its files (parts, shards, completion)
 * happen one at a time and a completion sees the shards it validated.
 */
export async function findUploadingBaseModel(
  tx: TenantTransaction,
  caller: Caller,
  id: string,
): Promise<BaseModelModel> {
  const found = await findBaseModel(tx, caller, id);
  if (!found.tenantId)
    throw new ProblemException('conflict', `Base model ${found.name} is the platform's and cannot change`);
  await tx.$executeRaw`SELECT 1 FROM base_models WHERE id = ${found.id} FOR UPDATE`;
  const row = await tx.baseModel.findUniqueOrThrow({ where: { id: found.id } });
  if (row.status !== 'uploading')
    throw new ProblemException(
      'conflict',
      `Base model ${row.name} is ${row.status}: its files can no longer change (register a new one)`,
    );
  return row;
}

/** The uploaded index, parsed through its contract (null: the checkpoint is one model.safetensors). */
export function indexOf(row: BaseModelModel): CheckpointIndex | null {
  return row.checkpointIndex === null ? null : checkpointIndexSchema.parse(row.checkpointIndex);
}

@Injectable()
export class BaseModelsService {
  constructor(
    private readonly database: Database,
    @Inject(BLOB_STORES) private readonly blobs: TenantBlobStores,
  ) {}

  async list(ctx: TenantContext): Promise<{ data: BaseModelDto[]; has_more: boolean }> {
    const rows = await this.database.readAsTenant(ctx, (tx) =>
      tx.baseModel.findMany({
        where: { OR: [{ tenantId: null }, { tenantId: ctx.tenantId }] },
        orderBy: { id: 'asc' },
      }),
    );
    return { data: rows.map(toBaseModelDto), has_more: false };
  }

  async get(ctx: TenantContext, idOrName: string): Promise<BaseModelDto> {
    return toBaseModelDto(await this.database.readAsTenant(ctx, (tx) => findBaseModel(tx, ctx, idOrName)));
  }

  /** Step 1 of an import: config.json, checked as the engine reads it, and the precision to serve at. */
  register(caller: Caller, body: RegisterBaseModel): Promise<BaseModelDto> {
    const config = configOrRefuse(body.config);
    return this.database.withTenant(caller, async (tx) => {
      if (await tx.baseModel.findFirst({ where: { tenantId: caller.tenantId, name: body.name } }))
        throw new ProblemException('conflict', `A base model named ${body.name} exists`);
      const row = await tx.baseModel.create({
        data: {
          id: newId('bm'),
          tenantId: caller.tenantId,
          name: body.name,
          architecture: config.architecture,
          config: JSON.parse(JSON.stringify(config)) as Prisma.InputJsonObject,
          precision: body.precision ?? 'fp32',
          status: 'uploading',
        },
      });
      await recordAudit(tx, caller, 'base_model.registered', { type: 'base_model', id: row.id });
      return toBaseModelDto(row);
    });
  }

  /** Optional: the tokenizer (without one the model reads bytes), checked against the model; replaces any earlier one. */
  async putTokenizer(caller: Caller, id: string, body: BaseModelTokenizer): Promise<BaseModelDto> {
    const row = await this.database.withTenant(caller, (tx) => findUploadingBaseModel(tx, caller, id));
    const problem = tokenizerProblem(configOf(row), body.tokenizer, body.tokenizer_config);
    if (problem)
      throw new ProblemException('validation', `The tokenizer does not fit ${row.name}; nothing was stored`, [problem]);
    const ref = await this.blobs.forTenant(caller.tenantId).put(new TextEncoder().encode(JSON.stringify(body)));
    return this.database.withTenant(caller, async (tx) => {
      const updated = await tx.baseModel.update({ where: { id: row.id }, data: { tokenizerBlob: ref.sha256 } });
      await recordAudit(tx, caller, 'base_model.tokenizer_uploaded', { type: 'base_model', id: row.id });
      return toBaseModelDto(updated);
    });
  }

  /**
   * A sharded checkpoint's model.safetensors.index.json: which shard holds each tensor. Checked
   * against the shards when the upload completes; until then it may be replaced.
   */
  async putIndex(caller: Caller, id: string, index: CheckpointIndex): Promise<BaseModelDto> {
    return this.database.withTenant(caller, async (tx) => {
      const row = await findUploadingBaseModel(tx, caller, id);
      const updated = await tx.baseModel.update({
        where: { id: row.id },
        data: { checkpointIndex: index as Prisma.InputJsonObject },
      });
      await recordAudit(tx, caller, 'base_model.index_uploaded', { type: 'base_model', id: row.id });
      return toBaseModelDto(updated);
    });
  }

  /**
   * A checkpoint of one model.safetensors in one request (up to BASE_MODEL_MAX_BYTES), streamed
   * to the blob store and validated as a completed upload is. A misfit is a 400 listing every
   * problem, and nothing is kept; a fit makes the model ready.
   */
  async putWeights(
    caller: Caller,
    id: string,
    openBody: () => AsyncIterable<Uint8Array>,
    maxBytes: number,
  ): Promise<BaseModelDto> {
    const row = await this.database.withTenant(caller, async (tx) => {
      const found = await findUploadingBaseModel(tx, caller, id);
      if (found.checkpointIndex !== null || (await tx.baseModelShard.count({ where: { baseModelId: found.id } })))
        throw new ProblemException(
          'conflict',
          `Base model ${found.name} is being uploaded in shards: finish with POST /v1/base-models/${found.id}/complete`,
        );
      return found;
    });
    const body = openBody();
    const store = this.blobs.forTenant(caller.tenantId);
    const ref = await putUpload(store, body, maxBytes, 'A model.safetensors sent in one request may be');
    const problems = await checkpointProblems(configOf(row), null, [await blobFile(store, ref.sha256, SINGLE_SHARD)]);
    if (problems.length) {
      await releaseBlob(this.database, store, caller, ref.sha256);
      throw checkpointRefused(`model.safetensors does not fit the config of ${row.name}; nothing was stored`, problems);
    }
    const shards: StoredShards = [{ file: SINGLE_SHARD, bytes: ref.size, sha256: ref.sha256 }];
    return this.database.withTenant(caller, async (tx) => {
      await findUploadingBaseModel(tx, caller, id);
      const updated = await tx.baseModel.update({
        where: { id: row.id },
        data: { weightsBlob: ref.sha256, weightShards: shards, status: 'ready' },
      });
      await recordAudit(tx, caller, 'base_model.ready', { type: 'base_model', id: row.id });
      return toBaseModelDto(updated);
    });
  }

  /**
   * The last step of an upload in shards: every shard is assembled, and the whole checkpoint is
   * checked against config.json and the index from the shards' headers (tensor data is not read).
   * A misfit is a 400 listing every problem and the model stays uploading (replace what is wrong);
   * a fit makes it ready, in the same transaction as the shards workers will read.
   */
  async complete(caller: Caller, id: string): Promise<BaseModelDto> {
    const { row, shards } = await this.database.withTenant(caller, async (tx) => {
      const found = await findUploadingBaseModel(tx, caller, id);
      return { row: found, shards: await tx.baseModelShard.findMany({ where: { baseModelId: found.id } }) };
    });
    if (shards.length === 0)
      throw new ProblemException('conflict', `Base model ${row.name} has no shards yet: upload them first`);
    const receiving = shards.filter((shard) => shard.blob === null).map((shard) => shard.file);
    if (receiving.length)
      throw new ProblemException(
        'conflict',
        `Shards still receiving parts: ${receiving.sort().join(', ')} (complete each with POST …/shards/{file}/complete)`,
      );
    const store = this.blobs.forTenant(caller.tenantId);
    shards.sort((a, b) => a.file.localeCompare(b.file));
    const sources = await Promise.all(shards.map((shard) => blobFile(store, shard.blob!, shard.file)));
    const problems = await checkpointProblems(configOf(row), indexOf(row), sources);
    if (problems.length)
      throw checkpointRefused(
        `The checkpoint does not fit ${row.name}; it stays uploading: replace what is wrong (PUT the index again, or DELETE a shard and upload it again)`,
        problems,
      );
    const stored: StoredShards = shards.map((shard) => ({
      file: shard.file,
      bytes: Number(shard.size),
      sha256: shard.blob,
    }));
    return this.database.withTenant(caller, async (tx) => {
      await findUploadingBaseModel(tx, caller, id);
      // What was validated is what is served: a shard replaced meanwhile leaves the model uploading.
      const now = await tx.baseModelShard.findMany({ where: { baseModelId: row.id } });
      const same =
        now.length === shards.length &&
        now.every((shard) => shards.some((s) => s.file === shard.file && s.blob !== null && s.blob === shard.blob));
      if (!same)
        throw new ProblemException(
          'conflict',
          `The shards of ${row.name} changed while it was validated; complete again`,
        );
      const updated = await tx.baseModel.update({
        where: { id: row.id },
        data: { weightShards: stored, status: 'ready' },
      });
      await recordAudit(tx, caller, 'base_model.ready', { type: 'base_model', id: row.id });
      return toBaseModelDto(updated);
    });
  }
}

/** config.json as the engine reads it, or a 400 naming what it cannot run. */
export function configOrRefuse(hf: Record<string, unknown>): DecoderConfig {
  try {
    return decoderConfigFromHf(hf);
  } catch (error) {
    throw new ProblemException('validation', 'config is not a checkpoint Tessera can run', [
      { field: 'config', message: (error as Error).message },
    ]);
  }
}

/** The row's config, stored as decoderConfigFromHf made it at registration. */
export function configOf(row: BaseModelModel): DecoderConfig {
  return row.config as unknown as DecoderConfig;
}
