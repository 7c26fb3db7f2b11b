import { useQuery } from '@tanstack/react-query';
import { TesseraProblemError, unwrap } from '@tessera/sdk';
import { useApi } from '../api.js';
import { Facts } from '../components/Facts.js';
import { Page } from '../components/Page.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { formatDateTime } from '../format.js';
import { DeletionProof } from './deletion/DeletionProof.js';
import { DeletionSteps } from './deletion/DeletionSteps.js';
import './deletion/deletion.css';

const POLL_MS = 2000;

/** #/deletions/{id}: a deletion request followed until it completes or fails, then its proof. */
export function DeletionPage({ deletionId }: { deletionId: string }) {
  const api = useApi();
  const deletion = useQuery({
    queryKey: ['deletions', deletionId],
    queryFn: () => unwrap(api.GET('/v1/deletions/{deletion_id}', { params: { path: { deletion_id: deletionId } } })),
    // Until it ends; a problem answer (a 404, a revoked key) stops it too: it would answer the same; network errors do not.
    refetchInterval: (query) =>
      query.state.error instanceof TesseraProblemError ||
      query.state.data?.status === 'completed' ||
      query.state.data?.status === 'failed'
        ? false
        : POLL_MS,
  });
  const data = deletion.data;
  return (
    <Page title={`Deletion ${deletionId}`} error={deletion.error} loading={deletion.isPending}>
      {data ? (
        <div className="deletion-page">
          <Facts
            facts={[
              { label: 'Status', value: <StatusBadge status={data.status} />, testId: 'deletion-status' },
              { label: 'Documents', value: data.documents.length },
              { label: 'Requested', value: formatDateTime(data.created_at) },
              { label: 'Completed', value: formatDateTime(data.completed_at) },
            ]}
          />
          {data.error ? (
            <div role="alert" className="problem">
              <strong>The deletion failed.</strong> {data.error}
            </div>
          ) : null}
          <h2>Steps</h2>
          <DeletionSteps deletion={data} />
          <h2>Affected adapter versions</h2>
          {data.affected_versions.length === 0 ? (
            <p className="muted">No adapter version was trained on these documents.</p>
          ) : (
            <ul data-testid="affected-versions">
              {data.affected_versions.map((versionId) => (
                <li key={versionId}>
                  <code>{versionId}</code> <span className="muted">stale: never served again</span>
                </li>
              ))}
            </ul>
          )}
          {data.status === 'completed' && data.proof ? <DeletionProof proof={data.proof} /> : null}
        </div>
      ) : null}
    </Page>
  );
}
