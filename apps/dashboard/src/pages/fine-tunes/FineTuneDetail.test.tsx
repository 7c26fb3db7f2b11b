import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Schemas } from '@tessera/sdk';
import { expect, test } from 'vitest';
import { json, renderWithApi } from '../../testing/render-with-api.js';
import { FineTuneDetail } from './FineTuneDetail.js';

const at = '2025-01-01T00:00:00Z';
const job = (status: Schemas['JobStatus'], progress: number): Schemas['FineTune'] => ({
  id: 'job_1',
  status,
  base_model_id: 'bm_demo',
  dataset_id: 'ds_1',
  adapter_id: 'ad_1',
  adapter_version_id: 'adv_1',
  hyperparameters: {
    rank: 8,
    alpha: 16,
    learning_rate: 0.002,
    epochs: 1,
    batch_size: 8,
    max_sequence_length: 128,
    seed: 0,
    checkpoint_every: 25,
    min_lr_rate: 0,
    adam_beta1: 0.9,
    adam_beta2: 0.999,
    adam_epsilon: 1e-8,
    packing: 'document_masked',
  },
  validation_split: 0.1,
  partitions: null,
  parent_job_id: null,
  progress,
  metrics: null,
  error: null,
  attempts: 1,
  created_at: at,
  started_at: at,
  finished_at: null,
});

const metric = (step: number, loss: number, validationLoss?: number): Schemas['JobEvent'] => ({
  id: `jev_${step + 1}`,
  type: 'metric',
  message: null,
  data: { step, total_steps: 10, loss, ...(validationLoss === undefined ? {} : { validation_loss: validationLoss }) },
  created_at: at,
});

const sse = (events: Schemas['JobEvent'][], end?: string) =>
  new Response(
    events.map((e) => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('') +
      (end ? `event: end\ndata: {"status":"${end}"}\n\n` : ''),
    {
      headers: { 'content-type': 'text/event-stream' },
    },
  );

const running: Schemas['JobEvent'][] = [
  { id: 'jev_1', type: 'status', message: 'running', data: { attempt: 1 }, created_at: at },
  metric(1, 3.2),
  metric(2, 3.0, 3.1),
  metric(3, 2.8),
];

test('a running fine-tune shows live progress, its loss curves and events, and can be cancelled', async () => {
  let cancelled = false;
  const { requests } = renderWithApi(<FineTuneDetail jobId="job_1" />, {
    'GET /v1/fine-tunes/job_1': () => json(cancelled ? job('cancelled', 0.3) : job('running', 0.2)),
    'GET /v1/fine-tunes/job_1/events': () => sse(running),
    'POST /v1/fine-tunes/job_1/cancel': () => {
      cancelled = true;
      return json(job('cancelled', 0.3));
    },
  });

  // 3 of 10 steps from the stream, ahead of the polled row's 0.2.
  await waitFor(() =>
    expect(screen.getByRole('progressbar', { name: 'Training' }).getAttribute('aria-valuenow')).toBe('30'),
  );
  const paths = screen.getByTestId('loss-chart').querySelectorAll('path.series');
  expect([...paths].map((path) => path.getAttribute('d')?.match(/[ML]/g)?.length)).toEqual([3, 1]);
  expect(within(screen.getByTestId('events-log')).getByText(/attempt 1/)).toBeTruthy();
  expect(requests.find((r) => r.path === '/v1/fine-tunes/job_1/events')?.headers.get('accept')).toBe(
    'text/event-stream',
  );

  await userEvent.click(screen.getByRole('button', { name: 'Cancel' }));
  await waitFor(() => expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull());
  expect(screen.getByTestId('fine-tune-status').textContent).toBe('cancelled');
  expect(requests.some((r) => r.method === 'POST' && r.path === '/v1/fine-tunes/job_1/cancel')).toBe(true);
});

test('a finished fine-tune offers no Cancel, shows 100% and its metrics, and links to its adapter and dataset by name', async () => {
  const done: Schemas['FineTune'] = {
    ...job('succeeded', 1),
    finished_at: at,
    metrics: {
      steps: 10,
      train_loss: 2.1,
      validation_loss: 2.3,
      validation_accuracy: 0.41,
      base_validation_loss: 3.4,
      train_tokens: 5000,
      seconds: 12,
      tokens_per_second: 416,
    },
  };
  renderWithApi(<FineTuneDetail jobId="job_1" />, {
    'GET /v1/fine-tunes/job_1': done,
    'GET /v1/fine-tunes/job_1/events': () =>
      sse([...running, { id: 'jev_9', type: 'status', message: 'succeeded', data: null, created_at: at }], 'succeeded'),
    'GET /v1/adapters': { data: [{ id: 'ad_1', name: 'weather' }], has_more: false },
    'GET /v1/datasets': { data: [{ id: 'ds_1', name: 'forecasts' }], has_more: false },
  });
  expect((await screen.findByRole('progressbar', { name: 'Training' })).getAttribute('aria-valuenow')).toBe('100');
  expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
  expect((await screen.findByRole('link', { name: 'weather' })).getAttribute('href')).toBe('#/adapters/ad_1');
  expect((await screen.findByRole('link', { name: 'forecasts' })).getAttribute('href')).toBe('#/datasets/ds_1');
  expect(screen.getByTestId('fine-tune-metrics').textContent).toContain('3.400');
  // The base model's validation loss is a dashed level line across the steps trained.
  await waitFor(() =>
    expect(
      screen
        .getByTestId('loss-chart')
        .querySelector('path[data-series="base model validation loss"]')
        ?.getAttribute('stroke-dasharray'),
    ).toBe('5 4'),
  );
  await waitFor(() => expect(within(screen.getByTestId('events-log')).getByText(/succeeded/)).toBeTruthy());
});

test('an event that is not JSON is skipped and reported once, not retried', async () => {
  const message = (id: string, type: string, data: string) => `id: ${id}\nevent: ${type}\ndata: ${data}\n\n`;
  const body = [
    message('jev_1', 'status', JSON.stringify(running[0])),
    message('jev_2', 'metric', '{"step": 1, cut'),
    message('jev_3', 'metric', JSON.stringify(metric(2, 3.0))),
    'event: end\ndata: {"status":"succeeded"}\n\n',
  ].join('');
  const { requests } = renderWithApi(<FineTuneDetail jobId="job_1" />, {
    'GET /v1/fine-tunes/job_1': job('succeeded', 1),
    'GET /v1/fine-tunes/job_1/events': () => new Response(body, { headers: { 'content-type': 'text/event-stream' } }),
  });
  expect((await screen.findByRole('alert')).textContent).toContain('(jev_2) was not JSON');
  expect(within(screen.getByTestId('events-log')).getByText(/attempt 1/)).toBeTruthy();
  expect(screen.getByTestId('loss-chart').querySelectorAll('path.series')).toHaveLength(1);
  expect(requests.filter((r) => r.path === '/v1/fine-tunes/job_1/events')).toHaveLength(1);
});
