import { Inject, Injectable } from '@nestjs/common';
import {
  newId,
  type CreateDataset,
  type Dataset,
  type DocumentDto,
  type ListQuery,
  type Page,
} from '@tessera/contracts';
import { releaseBlob } from '@tessera/domain';
import { Database, type TenantContext, type TenantTransaction } from '@tessera/db';
import { recordAudit } from '../common/audit.util.js';
import { BLOB_STORES, putUpload, type TenantBlobStores } from '../common/blob-store.provider.js';
import { seesEveryGroup, visible } from '../common/access-rule.js';
import type { Caller } from '../common/caller.js';
import { pageArgs, toPage } from '../common/pagination.util.js';
import { ProblemException } from '../common/problem.exception.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { toDatasetDto, toDocumentDto } from './dataset.mapper.js';
import { DatasetValidator, type ValidationSummary } from './dataset-validator.js';
import { insertDocuments } from './document-rows.js';

@Injectable()
export class DatasetsService {
  constructor(
    private readonly database: Database,
    @Inject(BLOB_STORES) private readonly blobs: TenantBlobStores,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  create(caller: Caller, body: CreateDataset): Promise<Dataset> {
    return this.database.withTenant(caller, async (tx) => {
      const row = await tx.dataset.create({
        data: { id: newId('ds'), tenantId: caller.tenantId, name: body.name, format: body.format },
      });
      await recordAudit(tx, caller, 'dataset.created', { type: 'dataset', id: row.id });
      return toDatasetDto(row, 0, []);
    });
  }

  async list(caller: Caller, query: ListQuery): Promise<Page<Dataset>> {
    const args = pageArgs(query);
    return this.database.readAsTenant(caller, async (tx) => {
      const rows = await tx.dataset.findMany({ ...args, where: { ...args.where, tenantId: caller.tenantId } });
      const page = rows.slice(0, query.limit);
      const summaries = await documentSummaries(
        tx,
        caller,
        page.map((r) => r.id),
      );
      return toPage(rows, query, (row) =>
        toDatasetDto(row, summaries.get(row.id)?.count ?? 0, summaries.get(row.id)?.groups ?? []),
      );
    });
  }

  get(caller: Caller, id: string): Promise<Dataset> {
    return this.database.readAsTenant(caller, async (tx) => {
      const row = await findDataset(tx, caller, id);
      const summary = (await documentSummaries(tx, caller, [id])).get(id);
      return toDatasetDto(row, summary?.count ?? 0, summary?.groups ?? []);
    });
  }

  /**
   * Streams a JSONL upload into the blob store while checking every line. Any bad line
   * fails the whole upload with a 400 naming the lines, and a line, document or document
   * count past its limit with a 413 as soon as it is seen, the rest unread. A refused upload
   * keeps nothing: the check ends inside the blob store's put, before it commits the blob,
   * and a commit that fails afterwards releases it (unless another dataset holds the same bytes).
   */
  async upload(caller: Caller, id: string, openBody: () => AsyncIterable<Uint8Array>): Promise<Dataset> {
    const { dataset, groups } = await this.database.withTenant(caller, async (tx) => ({
      dataset: await findDataset(tx, caller, id),
      // A key files documents only under groups it may use; any other reads as an unknown group.
      groups: await tx.accessGroup.findMany({
        where: { tenantId: caller.tenantId, ...(seesEveryGroup(caller) ? {} : { id: { in: [...caller.groupIds] } }) },
        select: { id: true, name: true },
      }),
    }));
    if (dataset.status !== 'uploading')
      throw new ProblemException(
        'conflict',
        `Dataset ${id} already has its content (status ${dataset.status}); create a new dataset for new data`,
      );
    const body = openBody();
    const byIdOrName = new Map(groups.flatMap((g) => [[g.id, g.id] as const, [g.name, g.id] as const]));
    const validator = new DatasetValidator(dataset.format, (key) => byIdOrName.get(key) ?? null, {
      maxLineBytes: this.config.DATASET_MAX_LINE_BYTES,
      maxDocumentBytes: this.config.DATASET_MAX_DOCUMENT_BYTES,
      maxDocuments: this.config.DATASET_MAX_DOCUMENTS,
      maxProblems: this.config.DATASET_MAX_ERRORS,
    });

    let summary: ValidationSummary | undefined;
    async function* checked() {
      for await (const chunk of body) {
        validator.push(chunk);
        yield chunk;
      }
      // Thrown here, the refusal reaches put before it commits: no blob is ever stored for it.
      summary = validator.finish();
      if (summary.problemCount > 0) throw invalidLines(summary, dataset.format);
    }
    const store = this.blobs.forTenant(caller.tenantId);
    const ref = await putUpload(store, checked(), this.config.DATASET_MAX_BYTES, 'Datasets may hold');
    const { records, tokens, documents } = summary!;
    try {
      return await this.database.withTenant(caller, async (tx) => {
        // The status check again, inside the transaction: two concurrent uploads cannot both land.
        const claimed = await tx.dataset.updateMany({
          where: { id, tenantId: caller.tenantId, status: 'uploading' },
          data: {
            status: 'ready',
            blob: ref.sha256,
            bytes: BigInt(ref.size),
            recordCount: records,
            tokenCount: BigInt(tokens),
            errors: undefined,
          },
        });
        if (claimed.count === 0)
          throw new ProblemException('conflict', `Dataset ${id} received its content from another upload meanwhile`);
        await insertDocuments(tx, caller, id, documents);
        await recordAudit(tx, caller, 'dataset.uploaded', { type: 'dataset', id });
        const row = await findDataset(tx, caller, id);
        return toDatasetDto(
          row,
          documents.length,
          [...new Set(documents.flatMap((d) => (d.accessGroupId ? [d.accessGroupId] : [])))].sort(),
        );
      });
    } catch (error) {
      // Identical bytes may already back another of the tenant's datasets: keep them for it. A
      // failed release must not hide why the upload failed.
      await releaseBlob(this.database, store, caller, ref.sha256).catch(() => false);
      throw error;
    }
  }

  async listDocuments(caller: Caller, datasetId: string, query: ListQuery): Promise<Page<DocumentDto>> {
    const args = pageArgs(query);
    const rows = await this.database.readAsTenant(caller, async (tx) => {
      await findDataset(tx, caller, datasetId);
      return tx.document.findMany({ ...args, where: { ...args.where, ...visible.documents(caller), datasetId } });
    });
    return toPage(rows, query, toDocumentDto);
  }
}

function invalidLines(summary: ValidationSummary, format: string): ProblemException {
  const shown =
    summary.problems.length < summary.problemCount ? ` (the first ${summary.problems.length} are listed)` : '';
  return new ProblemException(
    'validation',
    `${summary.problemCount} line(s) of the upload are not valid ${format} records${shown}; nothing was stored`,
    summary.problems,
  );
}

async function findDataset(tx: TenantTransaction, ctx: TenantContext, id: string) {
  const row = await tx.dataset.findFirst({ where: { id, tenantId: ctx.tenantId } });
  if (!row) throw ProblemException.notFound('dataset', id);
  return row;
}

/** Count and distinct access groups of the documents of each dataset that the caller may see. */
async function documentSummaries(tx: TenantTransaction, caller: Caller, datasetIds: string[]) {
  const summaries = new Map<string, { count: number; groups: string[] }>();
  if (datasetIds.length === 0) return summaries;
  const rows = await tx.document.groupBy({
    by: ['datasetId', 'accessGroupId'],
    where: { ...visible.documents(caller), datasetId: { in: datasetIds } },
    _count: { _all: true },
  });
  for (const row of rows) {
    const summary = summaries.get(row.datasetId) ?? { count: 0, groups: [] };
    summary.count += row._count._all;
    if (row.accessGroupId) summary.groups.push(row.accessGroupId);
    summaries.set(row.datasetId, summary);
  }
  for (const summary of summaries.values()) summary.groups.sort();
  return summaries;
}
