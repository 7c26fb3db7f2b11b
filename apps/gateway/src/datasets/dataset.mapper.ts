import type { Dataset as DatasetDto, DocumentDto } from '@tessera/contracts';
import type { DatasetModel, DocumentModel } from '@tessera/db';

export function toDatasetDto(row: DatasetModel, documentCount: number, accessGroupIds: string[]): DatasetDto {
  return {
    id: row.id,
    name: row.name,
    format: row.format,
    status: row.status,
    bytes: Number(row.bytes),
    record_count: row.recordCount,
    document_count: documentCount,
    token_count: Number(row.tokenCount),
    access_group_ids: accessGroupIds,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export function toDocumentDto(row: DocumentModel): DocumentDto {
  return {
    id: row.id,
    dataset_id: row.datasetId,
    document_id: row.externalId,
    access_group_id: row.accessGroupId,
    content_hash: row.contentHash,
    record_count: row.recordCount,
    token_count: row.tokenCount,
    status: row.status,
    created_at: row.createdAt.toISOString(),
  };
}
