import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import { json, renderWithApi } from '../testing/render-with-api.js';
import { CompositionsPage } from './CompositionsPage.js';

const adapter = (id: string, name: string, ready: boolean) => ({
  id,
  name,
  description: null,
  base_model_id: 'bm_1',
  access_group_id: null,
  status: 'active',
  latest_ready_version: ready ? 1 : null,
  created_at: '',
  updated_at: '',
});
const composition = (status: string) => ({
  id: 'cmp_1',
  object: 'composition',
  name: 'kitchen-sink',
  version: 1,
  method: 'ties',
  status,
  base_model_id: 'bm_1',
  members: [
    { adapter_id: 'ad_1', adapter: 'recipes', version: 1, weight: 0.7 },
    { adapter_id: 'ad_2', adapter: 'legal', version: 1, weight: 1 },
  ],
  params: { density: 0.4 },
  access_group_id: null,
  job_id: 'job_1',
  error: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
});

test('the create form sends the chosen members with their weights and the method’s params', async () => {
  const { requests } = renderWithApi(<CompositionsPage />, {
    'GET /v1/compositions': { data: [], has_more: false },
    'GET /v1/adapters': {
      data: [adapter('ad_1', 'recipes', true), adapter('ad_2', 'legal', true), adapter('ad_3', 'untrained', false)],
      has_more: false,
    },
    'GET /v1/groups': { data: [], has_more: false },
    'POST /v1/compositions': () => json(composition('queued'), 201),
  });
  fireEvent.click(await screen.findByRole('button', { name: 'New composition' }));
  const form = screen.getByRole('form', { name: 'New composition' });
  fireEvent.change(within(form).getByLabelText('Name'), { target: { value: 'kitchen-sink' } });
  fireEvent.change(within(form).getByLabelText('Method'), { target: { value: 'ties' } });
  fireEvent.click(await within(form).findByRole('checkbox', { name: /recipes/ }));
  fireEvent.click(within(form).getByRole('checkbox', { name: /legal/ }));
  expect(within(form).queryByRole('checkbox', { name: /untrained/ })).toBeNull();
  fireEvent.change(within(form).getByLabelText('Weight of recipes'), { target: { value: '0.7' } });
  fireEvent.change(within(form).getByLabelText('Density'), { target: { value: '0.4' } });
  fireEvent.click(within(form).getByRole('button', { name: 'Create composition' }));

  await waitFor(() => expect(window.location.hash).toBe('#/compositions/cmp_1'));
  const created = requests.find((r) => r.method === 'POST' && r.path === '/v1/compositions')!;
  expect(JSON.parse(created.body)).toEqual({
    name: 'kitchen-sink',
    method: 'ties',
    members: [
      { adapter: 'recipes', weight: 0.7 },
      { adapter: 'legal', weight: 1 },
    ],
    params: { density: 0.4 },
  });
});

test('a learned gate asks for its training dataset and sends no weights', async () => {
  const { requests } = renderWithApi(<CompositionsPage />, {
    'GET /v1/compositions': { data: [], has_more: false },
    'GET /v1/adapters': { data: [adapter('ad_1', 'recipes', true), adapter('ad_2', 'legal', true)], has_more: false },
    'GET /v1/groups': { data: [], has_more: false },
    'GET /v1/datasets': {
      data: [
        {
          id: 'ds_1',
          name: 'mixed',
          format: 'text',
          status: 'ready',
          bytes: 1,
          record_count: 48,
          document_count: 48,
          token_count: 1,
          access_group_ids: [],
          created_at: '',
          updated_at: '',
        },
      ],
      has_more: false,
    },
    'POST /v1/compositions': () => json({ ...composition('queued'), method: 'learned_gate' }, 201),
  });
  fireEvent.click(await screen.findByRole('button', { name: 'New composition' }));
  const form = screen.getByRole('form', { name: 'New composition' });
  fireEvent.change(within(form).getByLabelText('Name'), { target: { value: 'gate' } });
  fireEvent.change(within(form).getByLabelText('Method'), { target: { value: 'learned_gate' } });
  fireEvent.click(await within(form).findByRole('checkbox', { name: /recipes/ }));
  expect(within(form).getByRole('button', { name: 'Create composition' }).hasAttribute('disabled')).toBe(true);
  fireEvent.click(within(form).getByRole('checkbox', { name: /legal/ }));
  await within(form).findByRole('option', { name: /mixed/ });
  fireEvent.change(within(form).getByLabelText('Training dataset'), { target: { value: 'ds_1' } });
  fireEvent.click(within(form).getByRole('button', { name: 'Create composition' }));
  await waitFor(() => expect(requests.some((r) => r.method === 'POST')).toBe(true));
  expect(JSON.parse(requests.find((r) => r.method === 'POST')!.body)).toEqual({
    name: 'gate',
    method: 'learned_gate',
    members: [{ adapter: 'recipes' }, { adapter: 'legal' }],
    params: { dataset_id: 'ds_1' },
  });
});

test('the list shows each composition’s method, status and members', async () => {
  renderWithApi(<CompositionsPage />, { 'GET /v1/compositions': { data: [composition('ready')], has_more: false } });
  const row = (await screen.findByRole('link', { name: 'kitchen-sink' })).closest('tr')!;
  expect(row.textContent).toContain('ties');
  expect(row.textContent).toContain('ready');
  expect(row.textContent).toContain('recipes@1 × 0.7, legal@1 × 1');
});

test('the detail polls while the composition builds and shows its members', async () => {
  let calls = 0;
  renderWithApi(<CompositionsPage compositionId="cmp_1" />, {
    'GET /v1/compositions/cmp_1': () => json(composition(++calls < 2 ? 'building' : 'ready')),
  });
  expect(await screen.findByText('building')).toBeTruthy();
  expect(await screen.findByText('ready', {}, { timeout: 4000 })).toBeTruthy();
  const members = screen.getByRole('table', { name: 'Members' });
  expect(within(members).getByRole('link', { name: 'recipes' })).toBeTruthy();
  expect(within(members).getByText('0.7')).toBeTruthy();
});
