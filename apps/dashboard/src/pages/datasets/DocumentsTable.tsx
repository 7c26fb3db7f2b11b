import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE, unwrap, type Schemas } from '@tessera/sdk';
import { useState } from 'react';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatNumber } from '../../format.js';
import { navigate } from '../../router.js';
import { useGroupName } from '../../use-groups.js';

/** A dataset's documents; deleting one starts a deletion request and opens it to follow. */
export function DocumentsTable({ datasetId }: { datasetId: string }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const groupName = useGroupName();
  // Deleting retrains adapters and cannot be undone, so a row asks once more before it sends.
  const [confirming, setConfirming] = useState<string | null>(null);
  const documents = useQuery({
    queryKey: ['datasets', datasetId, 'documents'],
    queryFn: () =>
      listAll((after) =>
        api.GET('/v1/datasets/{dataset_id}/documents', {
          params: { path: { dataset_id: datasetId }, query: { limit: MAX_PAGE_SIZE, after } },
        }),
      ),
    // By the uploader's names, numbers in order (recipe-2 before recipe-10).
    select: (list) =>
      [...list].sort((a, b) => a.document_id.localeCompare(b.document_id, undefined, { numeric: true })),
  });
  const remove = useMutation({
    // The document's own id (doc_…): the uploader's document_id could be ambiguous across datasets.
    mutationFn: (document: Schemas['Document']) =>
      unwrap(
        api.DELETE('/v1/datasets/{dataset_id}/documents/{document_id}', {
          params: { path: { dataset_id: datasetId, document_id: document.id } },
        }),
      ),
    onSuccess: async (deletion) => {
      await queryClient.invalidateQueries({ queryKey: ['datasets', datasetId] });
      navigate(`/deletions/${deletion.id}`);
    },
  });

  if (documents.error) return <ProblemMessage error={documents.error} />;
  if (!documents.data) return <p className="muted">Loading documents…</p>;
  if (documents.data.length === 0) return <p className="muted">No documents yet.</p>;
  return (
    <>
      <ProblemMessage error={remove.error} />
      <table aria-label="Documents" data-testid="documents-table">
        <thead>
          <tr>
            <th scope="col">Document</th>
            <th scope="col">Access group</th>
            <th scope="col">Records</th>
            <th scope="col">Tokens</th>
            <th scope="col">Status</th>
            <th scope="col" aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {documents.data.map((document) => (
            <tr key={document.id}>
              <td>
                <code>{document.document_id}</code>
              </td>
              <td>{groupName(document.access_group_id)}</td>
              <td>{formatNumber(document.record_count)}</td>
              <td>{formatNumber(document.token_count)}</td>
              <td>
                <StatusBadge status={document.status} />
              </td>
              <td className="row-actions">
                {document.status !== 'active' ? null : confirming === document.id ? (
                  <>
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Confirm deleting document ${document.document_id}`}
                      disabled={remove.isPending}
                      onClick={() => remove.mutate(document)}
                    >
                      Confirm delete
                    </button>
                    <button
                      type="button"
                      className="secondary"
                      onClick={() => setConfirming(null)}
                      disabled={remove.isPending}
                    >
                      Keep
                    </button>
                  </>
                ) : (
                  <button
                    type="button"
                    className="danger"
                    aria-label={`Delete document ${document.document_id}`}
                    onClick={() => setConfirming(document.id)}
                  >
                    Delete
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
