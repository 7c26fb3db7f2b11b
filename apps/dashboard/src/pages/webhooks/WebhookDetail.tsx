import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import { useApi } from '../../api.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { Page } from '../../components/Page.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime } from '../../format.js';
import { navigate } from '../../router.js';
import { DeliveryRows } from './DeliveryRows.js';
import './webhooks.css';

const DELIVERY_PAGE = 50;

/** One endpoint: its settings, enable/disable, ping, delete, and the delivery log with every attempt. */
export function WebhookDetail({ webhookId }: { webhookId: string }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const path = { params: { path: { webhook_id: webhookId } } };
  const endpointKey = ['webhooks', webhookId];
  const deliveriesKey = ['webhooks', webhookId, 'deliveries'];

  const endpoint = useQuery({
    queryKey: endpointKey,
    queryFn: () => unwrap(api.GET('/v1/webhooks/{webhook_id}', path)),
  });
  const deliveries = useInfiniteQuery({
    queryKey: deliveriesKey,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/webhooks/{webhook_id}/deliveries', {
          params: {
            path: { webhook_id: webhookId },
            query: { limit: DELIVERY_PAGE, ...(pageParam ? { after: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => (page.has_more ? page.data.at(-1)?.id : undefined),
    // Retries happen on the worker's schedule; watch while any delivery is still under way.
    refetchInterval: (query) =>
      query.state.data?.pages.some((page) => page.data.some((d) => d.status === 'pending')) ? 2000 : false,
  });
  const refreshDeliveries = () => queryClient.invalidateQueries({ queryKey: deliveriesKey });

  const ping = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/webhooks/{webhook_id}/ping', path)),
    onSuccess: refreshDeliveries,
  });
  const redeliver = useMutation({
    mutationFn: (deliveryId: string) =>
      unwrap(
        api.POST('/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver', {
          params: { path: { webhook_id: webhookId, delivery_id: deliveryId } },
        }),
      ),
    onSuccess: refreshDeliveries,
  });
  const setEnabled = useMutation({
    mutationFn: (enabled: boolean) => unwrap(api.PATCH('/v1/webhooks/{webhook_id}', { ...path, body: { enabled } })),
    onSuccess: (updated) => {
      queryClient.setQueryData(endpointKey, updated);
      return queryClient.invalidateQueries({ queryKey: ['webhooks'], exact: true });
    },
  });
  const remove = useMutation({
    mutationFn: () => api.DELETE('/v1/webhooks/{webhook_id}', path),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['webhooks'], exact: true });
      navigate('/webhooks');
    },
  });

  const found = endpoint.data;
  const rows = deliveries.data?.pages.flatMap((page) => page.data) ?? [];
  const actions = found ? (
    <>
      <button type="button" onClick={() => ping.mutate()} disabled={!found.enabled || ping.isPending}>
        Send test ping
      </button>
      <button
        type="button"
        className="secondary"
        onClick={() => setEnabled.mutate(!found.enabled)}
        disabled={setEnabled.isPending}
      >
        {found.enabled ? 'Disable' : 'Enable'}
      </button>
      <ConfirmButton
        label="Delete"
        confirmLabel="Delete for good"
        keepLabel="Keep it"
        className="danger"
        pending={remove.isPending}
        onConfirm={() => remove.mutate()}
        warning="Deleting the endpoint also deletes its delivery log."
      />
    </>
  ) : null;

  return (
    <Page
      title={found ? found.url : 'Webhook endpoint'}
      actions={actions}
      error={endpoint.error}
      loading={endpoint.isPending}
    >
      {found ? (
        <dl className="webhook-facts">
          <dt>Status</dt>
          <dd>
            <StatusBadge status={found.enabled ? 'enabled' : 'disabled'} />
            {found.disabled_at ? (
              <span className="muted">
                {' '}
                delivery stopped {formatDateTime(found.disabled_at)} (disabled, or the receiver answered 410 Gone)
              </span>
            ) : null}
          </dd>
          <dt>Events</dt>
          <dd>{found.event_types.length ? found.event_types.join(', ') : 'every event type'}</dd>
          {found.description ? (
            <>
              <dt>Description</dt>
              <dd>{found.description}</dd>
            </>
          ) : null}
          <dt>Created</dt>
          <dd>{formatDateTime(found.created_at)}</dd>
        </dl>
      ) : null}
      <ProblemMessage error={ping.error ?? setEnabled.error ?? remove.error ?? redeliver.error} />
      {ping.isSuccess ? <p className="muted">Ping queued: it appears below as a delivery.</p> : null}
      <h2>Deliveries</h2>
      <ProblemMessage error={deliveries.error} />
      {deliveries.isPending ? <p className="muted">Loading…</p> : null}
      {!deliveries.isPending && rows.length === 0 ? (
        <p className="muted">Nothing delivered yet. Send a test ping.</p>
      ) : null}
      {rows.length > 0 ? (
        <table className="deliveries" aria-label="Deliveries">
          <thead>
            <tr>
              <th>Event</th>
              <th>Status</th>
              <th>Attempts</th>
              <th>Next attempt</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((delivery) => (
              <DeliveryRows
                key={delivery.id}
                delivery={delivery}
                onRedeliver={(id) => redeliver.mutate(id)}
                redelivering={redeliver.isPending && redeliver.variables === delivery.id}
              />
            ))}
          </tbody>
        </table>
      ) : null}
      {deliveries.hasNextPage ? (
        <button
          type="button"
          className="secondary"
          onClick={() => void deliveries.fetchNextPage()}
          disabled={deliveries.isFetchingNextPage}
        >
          Load more
        </button>
      ) : null}
    </Page>
  );
}
