import { useQuery } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE } from '@tessera/sdk';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime } from '../../format.js';
import { Link } from '../../router.js';

/** Every endpoint, with what it subscribes to and whether deliveries go out. */
export function WebhookList() {
  const api = useApi();
  const endpoints = useQuery({
    queryKey: ['webhooks'],
    queryFn: () => listAll((after) => api.GET('/v1/webhooks', { params: { query: { limit: MAX_PAGE_SIZE, after } } })),
  });
  if (endpoints.isPending) return <p className="muted">Loading…</p>;
  if (endpoints.error) return <ProblemMessage error={endpoints.error} />;
  if (endpoints.data.length === 0) return <p className="muted">No webhook endpoints yet.</p>;
  return (
    <table aria-label="Webhook endpoints">
      <thead>
        <tr>
          <th>URL</th>
          <th>Events</th>
          <th>Status</th>
          <th>Created</th>
        </tr>
      </thead>
      <tbody>
        {endpoints.data.map((endpoint) => (
          <tr key={endpoint.id}>
            <td>
              <Link to={`/webhooks/${endpoint.id}`}>{endpoint.url}</Link>
              {endpoint.description ? <div className="muted">{endpoint.description}</div> : null}
            </td>
            <td>
              {endpoint.event_types.length ? (
                endpoint.event_types.join(', ')
              ) : (
                <span className="muted">every event</span>
              )}
            </td>
            <td>
              <StatusBadge status={endpoint.enabled ? 'enabled' : 'disabled'} />
            </td>
            <td className="muted">{formatDateTime(endpoint.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
