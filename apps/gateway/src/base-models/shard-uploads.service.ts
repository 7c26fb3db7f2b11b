import { Inject, Injectable } from '@nestjs/common';
import { indexShardFiles, type ShardPartDto, type ShardUploadDto, type StartShardUpload } from '@tessera/contracts';
import { releaseBlob } from '@tessera/domain';
import { Database, type TenantTransaction } from '@tessera/db';
import type { BaseModelShardModel, BaseModelShardPartModel } from '@tessera/db';
import type { BlobStore } from '@tessera/storage';
import type { Caller } from '../common/caller.js';
import { BLOB_STORES, putUpload, type TenantBlobStores } from '../common/blob-store.provider.js';
import { ProblemException } from '../common/problem.exception.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { findBaseModel, findUploadingBaseModel, indexOf } from './base-models.service.js';

/** How many missing part numbers a 409 names. */
const MAX_LISTED_PARTS = 20;

function partCount(shard: Pick<BaseModelShardModel, 'size' | 'partSize'>): number {
  return Math.ceil(Number(shard.size) / shard.partSize);
}

/** Bytes part `number` (from 1) must hold: part_size, but the last holds the rest. */
function partBytes(shard: Pick<BaseModelShardModel, 'size' | 'partSize'>, number: number): number {
  return Math.min(shard.partSize, Number(shard.size) - (number - 1) * shard.partSize);
}

function toShardUploadDto(
  shard: BaseModelShardModel,
  parts: Pick<BaseModelShardPartModel, 'partNumber'>[],
): ShardUploadDto {
  return {
    file: shard.file,
    size: Number(shard.size),
    sha256: shard.sha256,
    status: shard.blob === null ? 'receiving' : 'complete',
    part_size: shard.partSize,
    part_count: partCount(shard),
    parts_received: shard.blob === null ? parts.map((p) => p.partNumber).sort((a, b) => a - b) : [],
    created_at: shard.createdAt.toISOString(),
  };
}

/**
 * Shards of an imported checkpoint, uploaded in parts: a shard is declared with its size and
 * sha256, its parts arrive in any order (each checked against its Content-Digest, each its own
 * blob, a part sent again replacing the one before), and completing it assembles the parts into
 * one blob that must hash to the declared sha256. Memory holds one part at a time.
 */
@Injectable()
export class ShardUploadsService {
  constructor(
    private readonly database: Database,
    @Inject(BLOB_STORES) private readonly blobs: TenantBlobStores,
    @Inject(GATEWAY_CONFIG) private readonly settings: GatewayConfig,
  ) {}

  async list(caller: Caller, id: string): Promise<{ data: ShardUploadDto[]; has_more: boolean }> {
    return this.database.readAsTenant(caller, async (tx) => {
      const model = await findOwnBaseModel(tx, caller, id);
      const shards = await tx.baseModelShard.findMany({
        where: { baseModelId: model.id },
        include: { parts: { select: { partNumber: true } } },
        orderBy: { file: 'asc' },
      });
      return { data: shards.map((shard) => toShardUploadDto(shard, shard.parts)), has_more: false };
    });
  }

  async get(caller: Caller, id: string, file: string): Promise<ShardUploadDto> {
    return this.database.readAsTenant(caller, async (tx) => {
      const { shard, parts } = await this.findShard(tx, caller, id, file, 'read');
      return toShardUploadDto(shard, parts);
    });
  }

  /**
   * Declares a shard (or finds it again, to resume: the same size and sha256 answer the upload
   * as it stands). Another size or sha256 for a file already declared is a 409: delete it first.
   */
  async start(caller: Caller, id: string, file: string, body: StartShardUpload): Promise<ShardUploadDto> {
    const { BASE_MODEL_MAX_SHARD_BYTES: maxBytes, BASE_MODEL_PART_BYTES: partSize } = this.settings;
    if (body.size > maxBytes)
      throw new ProblemException('validation', `A shard may be at most ${maxBytes} bytes`, [
        { field: 'size', message: `${body.size} bytes is over the limit of ${maxBytes}` },
      ]);
    const parts = Math.ceil(body.size / partSize);
    if (parts > this.settings.BASE_MODEL_MAX_PARTS)
      throw new ProblemException('validation', `A shard may have at most ${this.settings.BASE_MODEL_MAX_PARTS} parts`, [
        { field: 'size', message: `${body.size} bytes needs ${parts} parts of ${partSize} bytes` },
      ]);
    return this.database.withTenant(caller, async (tx) => {
      const model = await findUploadingBaseModel(tx, caller, id);
      const index = indexOf(model);
      if (index && !indexShardFiles(index).includes(file))
        throw new ProblemException('validation', `The index of ${model.name} names no shard ${file}`, [
          { field: 'file', message: `not one of the index's shards: ${indexShardFiles(index).join(', ')}` },
        ]);
      const existing = await tx.baseModelShard.findUnique({
        where: { baseModelId_file: { baseModelId: model.id, file } },
        include: { parts: { select: { partNumber: true } } },
      });
      if (existing) {
        if (Number(existing.size) !== body.size || existing.sha256 !== body.sha256)
          throw new ProblemException(
            'conflict',
            `Shard ${file} was started with another size or sha256: DELETE it to start over`,
          );
        return toShardUploadDto(existing, existing.parts);
      }
      const shards = await tx.baseModelShard.count({ where: { baseModelId: model.id } });
      if (shards >= this.settings.BASE_MODEL_MAX_SHARDS)
        throw new ProblemException(
          'conflict',
          `Base model ${model.name} has ${shards} shards, the most one may have (BASE_MODEL_MAX_SHARDS)`,
        );
      const shard = await tx.baseModelShard.create({
        data: {
          baseModelId: model.id,
          tenantId: caller.tenantId,
          file,
          size: BigInt(body.size),
          sha256: body.sha256,
          partSize,
        },
      });
      return toShardUploadDto(shard, []);
    });
  }

  /**
   * One part, streamed to its own blob: it must hold exactly its bytes and hash to the client's
   * Content-Digest (`upload.sha256`, hex), or nothing is kept. A part received before is replaced (the same bytes again
   * change nothing), so a client that is unsure whether a part arrived simply sends it again.
   */
  async putPart(
    caller: Caller,
    id: string,
    file: string,
    number: number,
    upload: { sha256: () => string; body: () => AsyncIterable<Uint8Array> },
  ): Promise<ShardPartDto> {
    const { shard } = await this.database.withTenant(caller, (tx) => this.findShard(tx, caller, id, file));
    if (shard.blob !== null)
      throw new ProblemException('conflict', `Shard ${file} is complete: its parts are assembled`);
    const digest = upload.sha256();
    if (number > partCount(shard))
      throw new ProblemException('validation', `Shard ${file} has ${partCount(shard)} parts`, [
        { field: 'part_number', message: `${number} is past the last part, ${partCount(shard)}` },
      ]);
    const expected = partBytes(shard, number);
    const store = this.blobs.forTenant(caller.tenantId);
    const ref = await putUpload(store, upload.body(), expected, `Part ${number} of ${file} is`);
    const refusal =
      ref.size !== expected
        ? `part ${number} holds ${ref.size} bytes; it must hold ${expected}`
        : ref.sha256 !== digest
          ? `part ${number}'s bytes hash to sha256 ${ref.sha256}, Content-Digest says ${digest}`
          : null;
    if (refusal) {
      await releaseBlob(this.database, store, caller, ref.sha256);
      throw new ProblemException('validation', `Part ${number} of ${file} was not stored: ${refusal}`, [
        { field: ref.size !== expected ? 'body' : 'header.Content-Digest', message: refusal },
      ]);
    }
    const replaced = await this.database.withTenant(caller, async (tx) => {
      const current = await this.findShard(tx, caller, id, file);
      if (current.shard.blob !== null || Number(current.shard.size) !== Number(shard.size))
        return { refused: true, blob: ref.sha256 };
      const key = { baseModelId: shard.baseModelId, file, partNumber: number };
      const previous = await tx.baseModelShardPart.findUnique({ where: { baseModelId_file_partNumber: key } });
      await tx.baseModelShardPart.upsert({
        where: { baseModelId_file_partNumber: key },
        create: { ...key, tenantId: caller.tenantId, size: ref.size, blob: ref.sha256 },
        update: { size: ref.size, blob: ref.sha256 },
      });
      return { refused: false, blob: previous && previous.blob !== ref.sha256 ? previous.blob : null };
    });
    if (replaced.blob) await releaseBlob(this.database, store, caller, replaced.blob);
    if (replaced.refused)
      throw new ProblemException('conflict', `Shard ${file} changed while part ${number} arrived: it was not stored`);
    return { part_number: number, size: ref.size, sha256: ref.sha256 };
  }

  /**
   * Assembles the parts, in order, into the shard's blob, which must hash to the declared sha256.
   * Missing parts are a 409 naming them; a mismatch a 400 (the parts are kept: send the wrong
   * ones again, or DELETE the shard). Completing a complete shard answers it as it is.
   */
  async complete(caller: Caller, id: string, file: string): Promise<ShardUploadDto> {
    const { shard, parts } = await this.database.withTenant(caller, async (tx) => {
      const found = await this.findShard(tx, caller, id, file);
      const rows = await tx.baseModelShardPart.findMany({
        where: { baseModelId: found.shard.baseModelId, file },
        orderBy: { partNumber: 'asc' },
      });
      return { shard: found.shard, parts: rows };
    });
    if (shard.blob !== null) return toShardUploadDto(shard, []);
    const received = new Set(parts.map((p) => p.partNumber));
    const missing = Array.from({ length: partCount(shard) }, (_, i) => i + 1).filter((n) => !received.has(n));
    if (missing.length)
      throw new ProblemException(
        'conflict',
        `Shard ${file} misses ${missing.length} of its ${partCount(shard)} parts: ${missing.slice(0, MAX_LISTED_PARTS).join(', ')}${missing.length > MAX_LISTED_PARTS ? ', …' : ''}`,
      );
    const store = this.blobs.forTenant(caller.tenantId);
    const ref = await store.put(partsInOrder(store, parts), { maxBytes: Number(shard.size) });
    if (ref.sha256 !== shard.sha256 || ref.size !== Number(shard.size)) {
      await releaseBlob(this.database, store, caller, ref.sha256);
      throw new ProblemException(
        'validation',
        `Shard ${file} was not assembled: its parts make ${ref.size} bytes hashing to ${ref.sha256}, not the ${shard.size} bytes and sha256 declared; send the parts that differ again, or DELETE the shard`,
        [{ field: 'sha256', message: `the parts hash to ${ref.sha256}` }],
      );
    }
    const assembled = await this.database.withTenant(caller, async (tx) => {
      const current = await this.findShard(tx, caller, id, file);
      if (current.shard.blob !== null) return current.shard;
      // Only the parts assembled: a part sent again meanwhile makes this completion stale.
      const now = await tx.baseModelShardPart.findMany({ where: { baseModelId: shard.baseModelId, file } });
      if (now.length !== parts.length || now.some((p) => parts[p.partNumber - 1]?.blob !== p.blob))
        throw new ProblemException(
          'conflict',
          `A part of ${file} was sent again while it was assembled; complete again`,
        );
      await tx.baseModelShardPart.deleteMany({ where: { baseModelId: shard.baseModelId, file } });
      return tx.baseModelShard.update({
        where: { baseModelId_file: { baseModelId: shard.baseModelId, file } },
        data: { blob: ref.sha256 },
      });
    });
    for (const blob of new Set(parts.map((p) => p.blob))) await releaseBlob(this.database, store, caller, blob);
    return toShardUploadDto(assembled, []);
  }

  /** Discards a shard (its parts, or its assembled blob) while the model is uploading, to start it over. */
  async delete(caller: Caller, id: string, file: string): Promise<void> {
    const blobs = await this.database.withTenant(caller, async (tx) => {
      const { shard } = await this.findShard(tx, caller, id, file);
      const held = await tx.baseModelShardPart.findMany({ where: { baseModelId: shard.baseModelId, file } });
      await tx.baseModelShard.delete({ where: { baseModelId_file: { baseModelId: shard.baseModelId, file } } });
      return [...new Set([...held.map((p) => p.blob), ...(shard.blob ? [shard.blob] : [])])];
    });
    const store = this.blobs.forTenant(caller.tenantId);
    for (const blob of blobs) await releaseBlob(this.database, store, caller, blob);
  }

  /** A shard of the tenant's own import: to change it (`write`) the import must still be uploading. */
  private async findShard(
    tx: TenantTransaction,
    caller: Caller,
    id: string,
    file: string,
    use: 'read' | 'write' = 'write',
  ) {
    const model =
      use === 'write' ? await findUploadingBaseModel(tx, caller, id) : await findOwnBaseModel(tx, caller, id);
    // findFirst, not findUnique: this also runs in readAsTenant, where Prisma would batch a findUnique across callers.
    const shard = await tx.baseModelShard.findFirst({
      where: { baseModelId: model.id, file },
      include: { parts: { select: { partNumber: true } } },
    });
    if (!shard) throw new ProblemException('not-found', `Base model ${model.name} has no shard upload ${file}`);
    return { shard, parts: shard.parts };
  }
}

/** The tenant's own import, whatever its status (the platform's have no uploads). */
async function findOwnBaseModel(tx: TenantTransaction, caller: Caller, id: string) {
  const model = await findBaseModel(tx, caller, id);
  if (!model.tenantId)
    throw new ProblemException('conflict', `Base model ${model.name} is the platform's: it has no uploads`);
  return model;
}

/** The parts' bytes one after another, each read whole (one part in memory) and checked against its address. */
async function* partsInOrder(store: BlobStore, parts: BaseModelShardPartModel[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield await store.get(part.blob);
}
