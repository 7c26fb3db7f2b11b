import type { DeletionDto, DeletionProof } from '@tessera/contracts';
import type { DeletionRequestModel } from '@tessera/db';

export type DeletionRow = DeletionRequestModel & {
  documents: { documentId: string }[];
  affectedVersions: { adapterVersionId: string }[];
};

/**
 * What of a deletion's consequences the caller may see: deleting a document of the whole
 * tenant can retrain another group's adapter and rebuild its compositions, whose ids that
 * group's outsiders never learn. `all` for admins.
 */
export type ShownObjects = 'all' | { versions: Set<string>; adapters: Set<string>; compositions: Set<string> };

type Step = DeletionDto['steps'][number];

export function toDeletionDto(row: DeletionRow, shown: ShownObjects): DeletionDto {
  const error = row.error as { message?: string } | null;
  const proof = (row.proof as DeletionProof | null) ?? null;
  const keep = (kind: 'versions' | 'adapters' | 'compositions', id: string) => shown === 'all' || shown[kind].has(id);
  return {
    id: row.id,
    object: 'deletion',
    status: row.status,
    reason: row.reason,
    documents: row.documents.map((d) => d.documentId).sort(),
    affected_versions: row.affectedVersions
      .map((v) => v.adapterVersionId)
      .filter((id) => keep('versions', id))
      .sort(),
    steps: (row.steps as Step[]).map((step) => (shown === 'all' ? step : redactedStep(step, keep))),
    proof: proof && {
      ...proof,
      retrained_versions: proof.retrained_versions.filter((v) => keep('adapters', v.adapter_id)),
    },
    error: error?.message ?? null,
    created_at: row.createdAt.toISOString(),
    completed_at: row.completedAt?.toISOString() ?? null,
  };
}

/** A step's detail without the ids of objects the caller may not see (counts stay). */
function redactedStep(step: Step, keep: (kind: 'versions' | 'adapters' | 'compositions', id: string) => boolean): Step {
  if (!step.detail) return step;
  const detail: Record<string, unknown> = { ...step.detail };
  if (Array.isArray(detail.compositions)) {
    detail.compositions = (detail.compositions as (string | { id: string })[]).filter((c) =>
      keep('compositions', typeof c === 'string' ? c : c.id),
    );
  }
  if (Array.isArray(detail.versions)) {
    detail.versions = (detail.versions as { adapter_id: string }[]).filter((v) => keep('adapters', v.adapter_id));
  }
  delete detail.artifact_blobs;
  return { ...step, detail };
}

/** Every id a deletion row names, by kind: what ShownObjects is computed over. */
export function namedObjects(row: DeletionRow) {
  const steps = row.steps as Step[];
  const proof = row.proof as DeletionProof | null;
  const compositions = steps.flatMap((s) =>
    Array.isArray(s.detail?.compositions)
      ? (s.detail.compositions as (string | { id: string })[]).map((c) => (typeof c === 'string' ? c : c.id))
      : [],
  );
  const adapters = [
    ...(proof?.retrained_versions ?? []).map((v) => v.adapter_id),
    ...steps.flatMap((s) =>
      Array.isArray(s.detail?.versions) ? (s.detail.versions as { adapter_id: string }[]).map((v) => v.adapter_id) : [],
    ),
  ];
  return { versions: row.affectedVersions.map((v) => v.adapterVersionId), adapters, compositions };
}
