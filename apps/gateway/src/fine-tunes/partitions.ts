/** A document as partitioning sees it. */
export interface PartitionDocument {
  id: string;
  accessGroupId: string | null;
}

export interface PlannedPartition {
  accessGroupId: string | null;
  documentIds: string[];
}

/**
 * AdapterSwap's partitions: documents grouped by access group (no group: the tenant's own
 * partition), each group cut into runs of at most `maxDocuments` in the order given (the
 * caller sorts by document_id). Groups come in order of first appearance, so the same
 * documents always make the same partitions.
 */
export function planPartitions(
  documents: readonly PartitionDocument[],
  maxDocuments = Number.POSITIVE_INFINITY,
): PlannedPartition[] {
  const groups = new Map<string | null, string[]>();
  for (const doc of documents) {
    const ids = groups.get(doc.accessGroupId) ?? [];
    ids.push(doc.id);
    groups.set(doc.accessGroupId, ids);
  }
  const partitions: PlannedPartition[] = [];
  for (const [accessGroupId, ids] of groups) {
    for (let start = 0; start < ids.length; start += maxDocuments)
      partitions.push({ accessGroupId, documentIds: ids.slice(start, start + maxDocuments) });
  }
  return partitions;
}
