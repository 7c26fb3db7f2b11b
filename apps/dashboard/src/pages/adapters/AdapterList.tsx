import { Page } from '../../components/Page.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime } from '../../format.js';
import { Link } from '../../router.js';
import { useAdapters } from '../../use-adapters.js';
import { useBaseModelName } from '../../use-base-models.js';
import { useGroupName } from '../../use-groups.js';

export function AdapterList() {
  const groupName = useGroupName();
  const adapters = useAdapters();
  const baseModelName = useBaseModelName();
  return (
    <Page title="Adapters" error={adapters.error} loading={adapters.isPending}>
      {adapters.data?.length === 0 ? (
        <p className="muted">
          No adapters yet: <Link to="/fine-tunes">fine-tune one</Link>.
        </p>
      ) : (
        <table aria-label="Adapters">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Base model</th>
              <th scope="col">Status</th>
              <th scope="col">Latest version</th>
              <th scope="col">Access group</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {adapters.data?.map((adapter) => (
              <tr key={adapter.id}>
                <td>
                  <Link to={`/adapters/${adapter.id}`}>{adapter.name}</Link>
                </td>
                <td>{baseModelName(adapter.base_model_id)}</td>
                <td>
                  <StatusBadge status={adapter.status} />
                </td>
                <td>{adapter.latest_ready_version === null ? '—' : `v${adapter.latest_ready_version}`}</td>
                <td>{groupName(adapter.access_group_id)}</td>
                <td>{formatDateTime(adapter.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}
