import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE, unwrap } from '@tessera/sdk';
import { useState } from 'react';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatNumber } from '../../format.js';
import { navigate } from '../../router.js';
import { useGroupName } from '../../use-groups.js';

/**
 * A dataset's documents. Rows are selected with their checkboxes and deleted together: one
 * deletion request for all of them (one retrain per adapter they trained), opened to follow.
 */
export function DocumentsTable({ datasetId }: { datasetId: string }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const groupName = useGroupName();
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  // Deleting retrains adapters and cannot be undone, so the action asks once more before it sends.
  const [confirming, setConfirming] = useState(false);
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
    // The documents' own ids (doc_…): the uploader's document_id could be ambiguous across datasets.
    mutationFn: (ids: string[]) =>
      unwrap(api.POST('/v1/deletions', { body: { documents: ids.map((id) => ({ document_id: id })) } })),
    onSuccess: async (deletion) => {
      await queryClient.invalidateQueries({ queryKey: ['datasets', datasetId] });
      navigate(`/deletions/${deletion.id}`);
    },
  });

  if (documents.error) return <ProblemMessage error={documents.error} />;
  if (!documents.data) return <p className="muted">Loading documents…</p>;
  if (documents.data.length === 0) return <p className="muted">No documents yet.</p>;
  const deletable = documents.data.filter((document) => document.status === 'active');
  const chosen = deletable.filter((document) => selected.has(document.id));
  const toggle = (id: string, on: boolean) =>
    setSelected((previous) => {
      const next = new Set(previous);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  const plural = (n: number) => `${n} document${n === 1 ? '' : 's'}`;
  return (
    <>
      <ProblemMessage error={remove.error} />
      <div className="bulk-actions" role="group" aria-label="Selected documents">
        <span className="muted" aria-live="polite">
          {chosen.length ? `${plural(chosen.length)} selected` : 'Select documents to delete them'}
        </span>
        {confirming && chosen.length ? (
          <>
            <button
              type="button"
              className="danger"
              disabled={remove.isPending}
              onClick={() => remove.mutate(chosen.map((document) => document.id))}
            >
              Confirm deleting {plural(chosen.length)}
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => setConfirming(false)}
              disabled={remove.isPending}
            >
              Keep
            </button>
          </>
        ) : (
          <button type="button" className="danger" disabled={!chosen.length} onClick={() => setConfirming(true)}>
            Delete selected{chosen.length ? ` (${chosen.length})` : ''}
          </button>
        )}
      </div>
      <table aria-label="Documents" data-testid="documents-table">
        <thead>
          <tr>
            <th scope="col" className="select-column">
              <input
                type="checkbox"
                aria-label="Select every document"
                checked={deletable.length > 0 && chosen.length === deletable.length}
                disabled={deletable.length === 0}
                onChange={(e) => setSelected(new Set(e.target.checked ? deletable.map((d) => d.id) : []))}
              />
            </th>
            <th scope="col">Document</th>
            <th scope="col">Access group</th>
            <th scope="col">Records</th>
            <th scope="col">Tokens</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {documents.data.map((document) => (
            <tr key={document.id}>
              <td className="select-column">
                {document.status === 'active' ? (
                  <input
                    type="checkbox"
                    aria-label={`Select document ${document.document_id}`}
                    checked={selected.has(document.id)}
                    onChange={(e) => toggle(document.id, e.target.checked)}
                  />
                ) : null}
              </td>
              <td>
                <code>{document.document_id}</code>
              </td>
              <td>{groupName(document.access_group_id)}</td>
              <td>{formatNumber(document.record_count)}</td>
              <td>{formatNumber(document.token_count)}</td>
              <td>
                <StatusBadge status={document.status} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
