import type { DeletionDto, DeletionProof } from '@tessera/contracts';
import type { DeletionRequestModel } from '@tessera/db';

export type DeletionRow = DeletionRequestModel & {
  documents: { documentId: string }[];
  affectedVersions: { adapterVersionId: string }[];
};

export function toDeletionDto(row: DeletionRow): DeletionDto {
  const error = row.error as { message?: string } | null;
  return {
    id: row.id,
    object: 'deletion',
    status: row.status,
    reason: row.reason,
    documents: row.documents.map((d) => d.documentId).sort(),
    affected_versions: row.affectedVersions.map((v) => v.adapterVersionId).sort(),
    steps: row.steps as DeletionDto['steps'],
    proof: (row.proof as DeletionProof | null) ?? null,
    error: error?.message ?? null,
    created_at: row.createdAt.toISOString(),
    completed_at: row.completedAt?.toISOString() ?? null,
  };
}
