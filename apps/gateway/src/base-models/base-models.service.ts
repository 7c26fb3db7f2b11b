import { Inject, Injectable } from '@nestjs/common';
import {
  newId,
  type BaseModelDto,
  type BaseModelTokenizer,
  type ProblemFieldError,
  type RegisterBaseModel,
} from '@tessera/contracts';
import { releaseBlob } from '@tessera/domain';
import { Database, type TenantContext, type TenantTransaction } from '@tessera/db';
import type { BaseModelModel } from '@tessera/db';
import {
  ChatTemplateError,
  decoderConfigFromHf,
  decoderWeightsFromHf,
  HfTokenizer,
  type ChatMessage,
  type DecoderConfig,
} from '@tessera/engine/formats';
import type { Caller } from '../common/caller.js';
import { BLOB_STORES, putUpload, type TenantBlobStores } from '../common/blob-store.provider.js';
import { recordAudit } from '../common/audit.util.js';
import { ProblemException } from '../common/problem.exception.js';

/**
 * What a chat template must render, under its limits, to be kept: the worker renders templates
 * for every tenant's requests, so one that loops or balloons is refused here. Plain alternating
 * turns, no system message: templates commonly refuse anything else.
 */
const SAMPLE_CONVERSATION: ChatMessage[] = [
  { role: 'user', content: 'Hello!' },
  { role: 'assistant', content: 'Hi. How can I help?' },
  { role: 'user', content: 'Tell me a joke.' },
];

export function toBaseModelDto(row: BaseModelModel): BaseModelDto {
  return {
    id: row.id,
    name: row.name,
    architecture: row.architecture,
    config: row.config as Record<string, unknown>,
    owner: row.tenantId ? 'tenant' : 'platform',
    status: row.status,
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

/** A base model that can be trained on and served: an import whose weights have not arrived is a 409. */
export async function findReadyBaseModel(
  tx: TenantTransaction,
  ctx: TenantContext,
  idOrName: string,
): Promise<BaseModelModel> {
  const row = await findBaseModel(tx, ctx, idOrName);
  if (row.status !== 'ready')
    throw new ProblemException(
      'conflict',
      `Base model ${row.name} has no weights yet: upload its model.safetensors first`,
    );
  return row;
}

@Injectable()
export class BaseModelsService {
  constructor(
    private readonly database: Database,
    @Inject(BLOB_STORES) private readonly blobs: TenantBlobStores,
  ) {}

  async list(ctx: TenantContext): Promise<{ data: BaseModelDto[]; has_more: boolean }> {
    const rows = await this.database.withTenant(ctx, (tx) =>
      tx.baseModel.findMany({
        where: { OR: [{ tenantId: null }, { tenantId: ctx.tenantId }] },
        orderBy: { id: 'asc' },
      }),
    );
    return { data: rows.map(toBaseModelDto), has_more: false };
  }

  async get(ctx: TenantContext, idOrName: string): Promise<BaseModelDto> {
    return toBaseModelDto(await this.database.withTenant(ctx, (tx) => findBaseModel(tx, ctx, idOrName)));
  }

  /** Step 1 of an import: config.json, checked as the engine reads it. */
  register(caller: Caller, body: RegisterBaseModel): Promise<BaseModelDto> {
    let config: DecoderConfig;
    try {
      config = decoderConfigFromHf(body.config);
    } catch (error) {
      throw new ProblemException('validation', 'config is not a checkpoint Tessera can run', [
        { field: 'config', message: (error as Error).message },
      ]);
    }
    return this.database.withTenant(caller, async (tx) => {
      if (await tx.baseModel.findFirst({ where: { tenantId: caller.tenantId, name: body.name } }))
        throw new ProblemException('conflict', `A base model named ${body.name} exists`);
      const row = await tx.baseModel.create({
        data: {
          id: newId('bm'),
          tenantId: caller.tenantId,
          name: body.name,
          architecture: config.architecture,
          config: { ...config },
          status: 'uploading',
        },
      });
      await recordAudit(tx, caller, 'base_model.registered', { type: 'base_model', id: row.id });
      return toBaseModelDto(row);
    });
  }

  /**
   * Optional step 2: the tokenizer (without one the model reads bytes); its ids must fit the
   * vocabulary, and its chat template must render a sample conversation within its limits.
   */
  async putTokenizer(caller: Caller, id: string, body: BaseModelTokenizer): Promise<BaseModelDto> {
    const row = await this.database.withTenant(caller, (tx) => this.findUploading(tx, caller, id));
    const config = row.config as unknown as DecoderConfig;
    let problem: ProblemFieldError | null = null;
    try {
      const tokenizer = new HfTokenizer({ tokenizer: body.tokenizer, config: body.tokenizer_config ?? {} });
      if (tokenizer.vocabSize > config.vocabSize)
        problem = {
          field: 'tokenizer',
          message: `the tokenizer has ${tokenizer.vocabSize} ids, the model's vocabulary ${config.vocabSize}`,
        };
      else tokenizer.chatTemplate.render(SAMPLE_CONVERSATION, { addGenerationPrompt: true });
    } catch (error) {
      const field = error instanceof ChatTemplateError ? 'tokenizer_config.chat_template' : 'tokenizer';
      problem = { field, message: (error as Error).message };
    }
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
   * Step 3: model.safetensors, streamed to the blob store, then every tensor checked against
   * config.json. A mismatch is a 400 listing them, and nothing is kept; a fit makes the model ready.
   */
  async putWeights(
    caller: Caller,
    id: string,
    openBody: () => AsyncIterable<Uint8Array>,
    maxBytes: number,
  ): Promise<BaseModelDto> {
    const row = await this.database.withTenant(caller, (tx) => this.findUploading(tx, caller, id));
    const body = openBody();
    const store = this.blobs.forTenant(caller.tenantId);
    const ref = await putUpload(store, body, maxBytes, 'Base model weights may be');
    let problems: string[];
    try {
      problems = decoderWeightsFromHf(row.config as unknown as DecoderConfig, [await store.get(ref.sha256)]).problems;
    } catch (error) {
      problems = [(error as Error).message];
    }
    if (problems.length) {
      await releaseBlob(this.database, store, caller, ref.sha256);
      throw new ProblemException(
        'validation',
        `model.safetensors does not fit the config of ${row.name}; nothing was stored`,
        problems.slice(0, 20).map((message) => ({ field: 'body', message })),
      );
    }
    return this.database.withTenant(caller, async (tx) => {
      const updated = await tx.baseModel.update({
        where: { id: row.id },
        data: { weightsBlob: ref.sha256, status: 'ready' },
      });
      await recordAudit(tx, caller, 'base_model.ready', { type: 'base_model', id: row.id });
      return toBaseModelDto(updated);
    });
  }

  private async findUploading(tx: TenantTransaction, caller: Caller, id: string): Promise<BaseModelModel> {
    const row = await findBaseModel(tx, caller, id);
    if (!row.tenantId)
      throw new ProblemException('conflict', `Base model ${row.name} is the platform's and cannot change`);
    if (row.status !== 'uploading')
      throw new ProblemException(
        'conflict',
        `Base model ${row.name} is ${row.status}: its files can no longer change (register a new one)`,
      );
    return row;
  }
}
