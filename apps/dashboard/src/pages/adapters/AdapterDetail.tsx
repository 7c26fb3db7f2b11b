import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import { useApi } from '../../api.js';
import { Facts } from '../../components/Facts.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { Page } from '../../components/Page.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime, formatLoss, formatNumber } from '../../format.js';
import { Link } from '../../router.js';
import { useBaseModelName } from '../../use-base-models.js';
import { useGroupName } from '../../use-groups.js';
import { PlacementHeatmap } from './PlacementHeatmap.js';
import { VersionDownloads } from './VersionDownloads.js';
import './adapters.css';

export function AdapterDetail({ adapterId }: { adapterId: string }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const groupName = useGroupName();
  const baseModelName = useBaseModelName();
  const path = { adapter_id: adapterId };
  const adapter = useQuery({
    queryKey: ['adapters', adapterId],
    queryFn: () => unwrap(api.GET('/v1/adapters/{adapter_id}', { params: { path } })),
  });
  const versions = useQuery({
    queryKey: ['adapters', adapterId, 'versions'],
    queryFn: () => unwrap(api.GET('/v1/adapters/{adapter_id}/versions', { params: { path } })),
    select: (list) => [...list.data].sort((a, b) => b.version - a.version),
    // A version still training turns ready (or stale) on its own.
    refetchInterval: (query) =>
      query.state.data?.data.some((v) => v.status === 'queued' || v.status === 'training') ? 3000 : false,
  });
  const archive = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/adapters/{adapter_id}/archive', { params: { path } })),
    onSuccess: (archived) => {
      queryClient.setQueryData(['adapters', adapterId], archived);
      // The detail is set from the answer; only the list needs reading again (archiving leaves versions alone).
      void queryClient.invalidateQueries({ queryKey: ['adapters'], exact: true });
    },
  });

  const data = adapter.data;
  // Archiving takes the adapter out of routing for good, so the button asks once more.
  const actions =
    data?.status === 'active' ? (
      <ConfirmButton
        label="Archive"
        confirmLabel="Confirm archive"
        keepLabel="Keep"
        className="secondary"
        pending={archive.isPending}
        onConfirm={() => archive.mutate()}
      />
    ) : null;
  return (
    <Page
      title={data ? `Adapter ${data.name}` : 'Adapter'}
      error={adapter.error}
      loading={adapter.isPending}
      actions={actions}
    >
      {data ? (
        <>
          <ProblemMessage error={archive.error} />
          {data.description ? <p>{data.description}</p> : null}
          <Facts
            facts={[
              { label: 'Status', value: <StatusBadge status={data.status} />, testId: 'adapter-status' },
              { label: 'Base model', value: baseModelName(data.base_model_id) },
              {
                label: 'Latest version',
                value: data.latest_ready_version === null ? '—' : `v${data.latest_ready_version}`,
              },
              { label: 'Access group', value: groupName(data.access_group_id) },
              { label: 'Created', value: formatDateTime(data.created_at) },
            ]}
          />
          <h2>Versions</h2>
          <ProblemMessage error={versions.error} />
          {versions.data?.length === 0 ? <p className="muted">No versions yet.</p> : null}
          {versions.data && versions.data.length > 0 ? (
            <table aria-label="Versions" data-testid="versions-table">
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Status</th>
                  <th scope="col">Rank / alpha</th>
                  <th scope="col">Train loss</th>
                  <th scope="col">Validation loss</th>
                  <th scope="col">Documents</th>
                  <th scope="col">Created</th>
                  <th scope="col">Files</th>
                </tr>
              </thead>
              <tbody>
                {versions.data.map((version) => (
                  <tr key={version.id}>
                    <td>
                      v{version.version}
                      {version.training_job_id ? (
                        <>
                          {' '}
                          <Link to={`/fine-tunes/${version.training_job_id}`}>job</Link>
                        </>
                      ) : null}
                    </td>
                    <td>
                      <StatusBadge status={version.status} />
                    </td>
                    <td>
                      {version.rank} / {version.alpha}
                    </td>
                    <td>{formatLoss(version.metrics?.train_loss)}</td>
                    <td>{formatLoss(version.metrics?.validation_loss)}</td>
                    <td>{formatNumber(version.document_count)}</td>
                    <td>{formatDateTime(version.created_at)}</td>
                    <td>
                      {version.status === 'ready' ? (
                        <VersionDownloads adapterId={adapterId} adapterName={data.name} version={version.version} />
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {versions.data?.some((v) => v.placement) ? <h2>Placement</h2> : null}
          {versions.data?.map((v) =>
            v.placement ? <PlacementHeatmap key={v.id} version={v.version} placement={v.placement} /> : null,
          )}
        </>
      ) : null}
    </Page>
  );
}
