import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import { json, renderWithApi } from '../testing/render-with-api.js';
import { WebhooksPage } from './WebhooksPage.js';

const endpoint = {
  id: 'wh_1',
  url: 'https://hooks.example.com/t',
  description: null,
  event_types: ['adapter.ready'],
  enabled: true,
  disabled_at: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
};
const delivery = {
  id: 'whd_1',
  endpoint_id: 'wh_1',
  event_id: 'evt_1',
  event_type: 'adapter.ready',
  status: 'failed',
  attempt_count: 2,
  next_attempt_at: null,
  attempts: [
    {
      attempt: 1,
      status_code: 500,
      latency_ms: 42,
      response_excerpt: 'boom',
      error: null,
      created_at: '2026-01-01T00:00:01Z',
    },
    {
      attempt: 2,
      status_code: null,
      latency_ms: null,
      response_excerpt: null,
      error: 'connect ECONNREFUSED',
      created_at: '2026-01-01T00:00:06Z',
    },
  ],
  created_at: '2026-01-01T00:00:00Z',
};

test('a delivery expands to every attempt, and Redeliver posts it again', async () => {
  const { requests } = renderWithApi(<WebhooksPage webhookId="wh_1" />, {
    'GET /v1/webhooks/wh_1': endpoint,
    'GET /v1/webhooks/wh_1/deliveries': { data: [delivery], has_more: false },
    'POST /v1/webhooks/wh_1/deliveries/whd_1/redeliver': () => json({ ...delivery, status: 'pending' }, 202),
    'POST /v1/webhooks/wh_1/ping': () =>
      json({ ...delivery, id: 'whd_2', event_type: 'ping', status: 'pending', attempts: [] }, 202),
  });
  const deliveries = await screen.findByRole('table', { name: 'Deliveries' });
  expect(screen.queryByRole('table', { name: /Attempts of/ })).toBeNull();
  fireEvent.click(within(deliveries).getByRole('button', { name: 'Show attempts' }));
  const attempts = screen.getByRole('table', { name: 'Attempts of adapter.ready evt_1' });
  const [first, second] = within(attempts).getAllByRole('row').slice(1);
  expect(first!.textContent).toContain('500');
  expect(first!.textContent).toContain('42 ms');
  expect(first!.textContent).toContain('boom');
  expect(second!.textContent).toContain('connect ECONNREFUSED');

  fireEvent.click(within(deliveries).getByRole('button', { name: 'Redeliver' }));
  await waitFor(() =>
    expect(requests.some((r) => r.method === 'POST' && r.path === '/v1/webhooks/wh_1/deliveries/whd_1/redeliver')).toBe(
      true,
    ),
  );
  // The log is read again to show the new attempt.
  await waitFor(() => expect(requests.filter((r) => r.path === '/v1/webhooks/wh_1/deliveries')).toHaveLength(2));

  fireEvent.click(screen.getByRole('button', { name: 'Send test ping' }));
  await waitFor(() =>
    expect(requests.some((r) => r.method === 'POST' && r.path === '/v1/webhooks/wh_1/ping')).toBe(true),
  );
});

test('disable patches the endpoint, and delete asks once more before it deletes', async () => {
  const { requests } = renderWithApi(<WebhooksPage webhookId="wh_1" />, {
    'GET /v1/webhooks/wh_1': endpoint,
    'GET /v1/webhooks/wh_1/deliveries': { data: [], has_more: false },
    'PATCH /v1/webhooks/wh_1': () => json({ ...endpoint, enabled: false, disabled_at: '2026-01-02T00:00:00Z' }),
    'DELETE /v1/webhooks/wh_1': () => new Response(null, { status: 204 }),
  });
  fireEvent.click(await screen.findByRole('button', { name: 'Disable' }));
  expect(await screen.findByRole('button', { name: 'Enable' })).toBeTruthy();
  expect(JSON.parse(requests.find((r) => r.method === 'PATCH')!.body)).toEqual({ enabled: false });
  expect(screen.getByRole('button', { name: 'Send test ping' }).hasAttribute('disabled')).toBe(true);

  fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
  expect(requests.some((r) => r.method === 'DELETE')).toBe(false);
  fireEvent.click(screen.getByRole('button', { name: 'Delete for good' }));
  await waitFor(() => expect(window.location.hash).toBe('#/webhooks'));
});

test('creating an endpoint sends the ticked events and shows the signing secret once', async () => {
  const { requests } = renderWithApi(<WebhooksPage />, {
    'GET /v1/webhooks': { data: [], has_more: false },
    'POST /v1/webhooks': () => json({ ...endpoint, secret: 'whsec_abc123' }, 201),
  });
  fireEvent.click(await screen.findByRole('button', { name: 'New endpoint' }));
  fireEvent.change(screen.getByLabelText('URL'), { target: { value: 'https://hooks.example.com/t' } });
  fireEvent.click(screen.getByRole('checkbox', { name: /adapter\.ready/ }));
  fireEvent.click(screen.getByRole('button', { name: 'Create endpoint' }));
  expect((await screen.findByTestId('secret-value')).textContent).toBe('whsec_abc123');
  expect(JSON.parse(requests.find((r) => r.method === 'POST')!.body)).toEqual({
    url: 'https://hooks.example.com/t',
    event_types: ['adapter.ready'],
  });
  fireEvent.click(screen.getByRole('button', { name: 'I have stored it' }));
  expect(screen.queryByText('whsec_abc123')).toBeNull();
});
