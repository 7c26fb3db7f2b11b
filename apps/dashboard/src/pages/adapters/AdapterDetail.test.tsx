import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Schemas } from '@tessera/sdk';
import { afterEach, expect, test, vi } from 'vitest';
import { json, renderWithApi } from '../../testing/render-with-api.js';
import { AdapterDetail } from './AdapterDetail.js';

const at = '2025-01-01T00:00:00Z';
const adapter: Schemas['Adapter'] = {
  id: 'ad_1',
  name: 'recipes',
  description: null,
  base_model_id: 'bm_demo',
  access_group_id: null,
  status: 'active',
  latest_ready_version: 2,
  created_at: at,
  updated_at: at,
};
const version = (n: number, status: Schemas['AdapterVersionStatus']): Schemas['AdapterVersion'] => ({
  id: `adv_${n}`,
  adapter_id: 'ad_1',
  version: n,
  status,
  rank: 8,
  alpha: 16,
  target_modules: [],
  placement: null,
  seed: 0,
  weights_sha256: null,
  metrics: null,
  training_job_id: `job_${n}`,
  document_count: 3,
  created_at: at,
  ready_at: null,
});

afterEach(() => vi.restoreAllMocks());

test('versions newest first; a ready version downloads its files with the key; the adapter archives after a confirm', async () => {
  const createObjectURL = vi.fn((_blob: Blob) => 'blob:adapter');
  URL.createObjectURL = createObjectURL;
  URL.revokeObjectURL = () => {};
  const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
  let archived = false;
  const { requests } = renderWithApi(<AdapterDetail adapterId="ad_1" />, {
    'GET /v1/adapters/ad_1': () => json(archived ? { ...adapter, status: 'archived' } : adapter),
    'GET /v1/adapters/ad_1/versions': { data: [version(1, 'stale'), version(2, 'ready')], has_more: false },
    'GET /v1/adapters/ad_1/versions/2/adapter_config.json': () =>
      new Response('{"peft_type":"LORA","r":8}', { headers: { 'content-type': 'application/json' } }),
    'GET /v1/groups': { data: [], has_more: false },
    'POST /v1/adapters/ad_1/archive': () => {
      archived = true;
      return json({ ...adapter, status: 'archived' });
    },
  });

  const table = await screen.findByTestId('versions-table');
  const rows = within(table).getAllByRole('row').slice(1);
  expect(rows.map((row) => row.querySelector('td')?.textContent)).toEqual(['v2 job', 'v1 job']);
  expect(within(rows[1]!).queryByRole('button')).toBeNull();

  await userEvent.click(within(rows[0]!).getByRole('button', { name: 'Download adapter_config.json of v2' }));
  await waitFor(() => expect(click).toHaveBeenCalled());
  expect(await createObjectURL.mock.calls[0]![0].text()).toBe('{"peft_type":"LORA","r":8}');
  expect(requests.find((r) => r.path.endsWith('adapter_config.json'))?.headers.get('authorization')).toBe(
    'Bearer tsk_test',
  );

  await userEvent.click(screen.getByRole('button', { name: 'Archive' }));
  await userEvent.click(screen.getByRole('button', { name: 'Confirm archive' }));
  await waitFor(() => expect(screen.getByTestId('adapter-status').textContent).toBe('archived'));
  expect(screen.queryByRole('button', { name: 'Archive' })).toBeNull();
});

test('a version placed by gradient rank shows its layer × projection scores and marks the placed cells', async () => {
  const score = (layer: number, module: string, gradient_rank: number) => ({
    projection: `h.${layer}.${module}`,
    layer,
    module,
    gradient_rank,
    gradient_norm: 1,
  });
  const placed = {
    ...version(3, 'ready'),
    placement: {
      strategy: 'gradient_rank' as const,
      budget_params: 24576,
      chosen: ['h.0.mlp.c_fc', 'h.1.attn.c_attn'],
      params: 13824,
      scores: [
        score(0, 'attn.c_attn', 2.5),
        score(0, 'mlp.c_fc', 7.25),
        score(1, 'attn.c_attn', 6),
        score(1, 'mlp.c_fc', 3),
      ],
      probe_seconds: 1.5,
    },
  };
  renderWithApi(<AdapterDetail adapterId="ad_1" />, {
    'GET /v1/adapters/ad_1': () => json(adapter),
    'GET /v1/adapters/ad_1/versions': { data: [placed, version(2, 'ready')], has_more: false },
    'GET /v1/groups': { data: [], has_more: false },
  });

  const table = await screen.findByRole('table', { name: /Placement of version 3/ });
  const rows = within(table).getAllByRole('row');
  expect(rows.map((row) => [...row.children].map((cell) => cell.textContent))).toEqual([
    ['Layer', 'attn.c_attn', 'mlp.c_fc'],
    ['0', '2.5', '7.3 placed'],
    ['1', '6.0 placed', '3.0'],
  ]);
  expect(screen.getByTestId('placement-v3').textContent).toContain('2 of 4 projections placed by gradient rank');
  expect(screen.queryByTestId('placement-v2')).toBeNull();
});
