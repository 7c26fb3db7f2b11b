import { useQuery } from '@tanstack/react-query';
import { unwrap, type Schemas } from '@tessera/sdk';
import { useApi } from '../../api.js';
import { Page } from '../../components/Page.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime } from '../../format.js';
import { Link } from '../../router.js';
import { isBuilding } from './use-compositions.js';
import './compositions.css';

/** How the composition is served, in the playground's words. */
function servedAs(method: Schemas['CompositionMethod']): string {
  if (method === 'learned_gate') return 'routing mode token: its gate weighs the members per token';
  if (method === 'centroid') return 'routing mode auto: each request goes to its best partitions by centroid';
  return 'routing mode mixture: one merged adapter';
}

/** One composition: its members and status, polled until the compose job is done. */
export function CompositionDetail({ compositionId }: { compositionId: string }) {
  const api = useApi();
  const composition = useQuery({
    queryKey: ['compositions', compositionId],
    queryFn: () =>
      unwrap(api.GET('/v1/compositions/{composition_id}', { params: { path: { composition_id: compositionId } } })),
    refetchInterval: (query) => (isBuilding(query.state.data?.status) ? 1500 : false),
  });
  const found = composition.data;
  return (
    <Page
      title={found ? `${found.name} v${found.version}` : 'Composition'}
      actions={<Link to="/compositions">All compositions</Link>}
      error={composition.error}
      loading={composition.isPending}
    >
      {found ? (
        <>
          <dl className="composition-facts">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={found.status} />{' '}
              {isBuilding(found.status) ? <span className="muted">the compose job is building it…</span> : null}
            </dd>
            <dt>Method</dt>
            <dd>{found.method}</dd>
            <dt>Served as</dt>
            <dd>{servedAs(found.method)}</dd>
            <dt>Base model</dt>
            <dd>{found.base_model_id ?? '—'}</dd>
            <dt>Access group</dt>
            <dd>{found.access_group_id ?? 'whole tenant'}</dd>
            <dt>Params</dt>
            <dd>
              {Object.keys(found.params).length ? (
                <code>{JSON.stringify(found.params)}</code>
              ) : (
                <span className="muted">defaults</span>
              )}
            </dd>
            <dt>Compose job</dt>
            <dd>{found.job_id ?? '—'}</dd>
            <dt>Created</dt>
            <dd>{formatDateTime(found.created_at)}</dd>
          </dl>
          {found.error ? (
            <div role="alert" className="problem">
              <strong>The build failed.</strong> {found.error}
            </div>
          ) : null}
          <h2>Members</h2>
          <table aria-label="Members">
            <thead>
              <tr>
                <th>Adapter</th>
                <th>Version</th>
                <th>Weight</th>
              </tr>
            </thead>
            <tbody>
              {found.members.map((member) => (
                <tr key={member.adapter_id}>
                  <td>
                    <Link to={`/adapters/${member.adapter_id}`}>{member.adapter}</Link>
                  </td>
                  <td>{member.version ?? <span className="muted">latest ready</span>}</td>
                  <td>
                    {found.method === 'learned_gate' ? <span className="muted">learned per token</span> : member.weight}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </Page>
  );
}
