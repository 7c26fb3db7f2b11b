import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Schemas } from '@tessera/sdk';
import { expect, test } from 'vitest';
import { renderWithApi } from '../../testing/render-with-api.js';
import { OverviewPage } from '../OverviewPage.js';

const usage = {
  object: 'usage',
  since: '2025-01-01T00:00:00Z',
  until: '2025-01-08T00:00:00Z',
  data: [
    { adapter_id: 'ad_1', adapter_name: 'recipes', requests: 40, prompt_tokens: 400, completion_tokens: 600 },
    { adapter_id: null, adapter_name: null, requests: 10, prompt_tokens: 100, completion_tokens: 50 },
  ],
};
const queues = {
  object: 'queues',
  data: [
    { name: 'train', waiting: 3, active: 1, delayed: 0 },
    { name: 'compose', waiting: 0, active: 0, delayed: 0 },
  ],
  jobs: { queued: 1, running: 1 },
};
const fineTune = (id: string, status: Schemas['JobStatus'], progress: number) => ({
  id,
  status,
  progress,
  created_at: '2025-01-01T00:00:00Z',
});

function renderOverview() {
  return renderWithApi(<OverviewPage />, {
    'GET /v1/usage': usage,
    'GET /v1/queues': queues,
    'GET /v1/fine-tunes': {
      data: [fineTune('job_1', 'running', 0.42), fineTune('job_2', 'succeeded', 1), fineTune('job_3', 'queued', 0)],
      has_more: false,
    },
  });
}

const barWidths = (row: Element) =>
  [...row.querySelectorAll('rect.bar-segment')].map((rect) => Number(rect.getAttribute('width')));

test('usage per adapter is a bar per adapter, scaled to the busiest, the base model named as such', async () => {
  const { requests } = renderOverview();
  const chart = await screen.findByTestId('usage-chart');
  const rows = chart.querySelectorAll('g.bar-row');
  expect([...rows].map((row) => row.getAttribute('data-label'))).toEqual(['recipes', 'base model']);
  const [recipes, base] = [barWidths(rows[0]!), barWidths(rows[1]!)];
  expect(recipes).toHaveLength(1);
  expect(base[0]! / recipes[0]!).toBeCloseTo(10 / 40);
  expect(within(chart).getByRole('img', { name: 'Requests per adapter' })).toBeTruthy();
  const since = new URLSearchParams(requests.find((r) => r.path === '/v1/usage')!.search).get('since')!;
  expect(Date.now() - Date.parse(since)).toBeGreaterThan(6.9 * 24 * 3_600_000);

  // Tokens: prompt and completion stacked, scaled to the largest total (1000).
  await userEvent.click(screen.getByRole('radio', { name: 'Tokens' }));
  const tokenRows = screen.getByTestId('usage-chart').querySelectorAll('g.bar-row');
  const [prompt, completion] = barWidths(tokenRows[0]!);
  expect(prompt! / completion!).toBeCloseTo(400 / 600);
  expect(barWidths(tokenRows[1]!).reduce((a, b) => a + b) / (prompt! + completion!)).toBeCloseTo(150 / 1000);
});

test('running jobs show their progress, and the queues their depth', async () => {
  renderOverview();
  const jobs = await screen.findByTestId('running-jobs');
  expect(
    within(jobs)
      .getAllByRole('progressbar')
      .map((bar) => [bar.getAttribute('aria-label'), bar.getAttribute('aria-valuenow')]),
  ).toEqual([
    ['job_1', '42'],
    ['job_3', '0'],
  ]);
  await waitFor(() => expect(screen.getByTestId('tenant-jobs').textContent).toBe('Your jobs: 1 queued, 1 running.'));
  const train = within(screen.getByTestId('queues-table')).getByText('train').closest('tr')!;
  expect([...train.querySelectorAll('td')].map((cell) => cell.textContent)).toEqual(['train', '3', '1', '0']);
});
