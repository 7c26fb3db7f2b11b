import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { expect, test } from 'vitest';
import { json, renderWithApi } from '../../testing/render-with-api.js';
import { CreateFineTuneForm } from './CreateFineTuneForm.js';

const at = '2025-01-01T00:00:00Z';

test('the form starts a fine-tune with the chosen model, dataset and hyperparameters, with the access group, and opens the job', async () => {
  const { requests } = renderWithApi(<CreateFineTuneForm />, {
    'GET /v1/base-models': {
      data: [{ id: 'bm_demo', name: 'tessera-demo', architecture: 'gpt2', status: 'ready' }],
      has_more: false,
    },
    'GET /v1/datasets': {
      data: [
        { id: 'ds_1', name: 'old', status: 'ready', document_count: 2 },
        { id: 'ds_2', name: 'empty', status: 'uploading', document_count: 0 },
        { id: 'ds_3', name: 'recipes', status: 'ready', document_count: 5 },
      ],
      has_more: false,
    },
    'GET /v1/groups': {
      data: [{ id: 'grp_1', name: 'research', description: null, created_at: at, updated_at: at }],
      has_more: false,
    },
    'POST /v1/fine-tunes': () => json({ id: 'job_7', adapter_id: 'ad_7', status: 'queued' }, 201),
  });

  await waitFor(() => expect((screen.getByLabelText('Dataset') as HTMLSelectElement).value).toBe('ds_3'));
  expect(screen.getByLabelText('Dataset').textContent).not.toContain('empty');
  await userEvent.type(screen.getByLabelText('Adapter name'), 'recipes');
  await userEvent.clear(screen.getByLabelText('Epochs'));
  await userEvent.type(screen.getByLabelText('Epochs'), '3');
  await waitFor(() => expect(screen.getByRole('option', { name: 'research' })).toBeTruthy());
  await userEvent.selectOptions(screen.getByLabelText('Access group'), 'grp_1');
  await userEvent.click(screen.getByRole('button', { name: 'Start fine-tune' }));

  await waitFor(() => expect(window.location.hash).toBe('#/fine-tunes/job_7'));
  const created = JSON.parse(requests.find((r) => r.method === 'POST' && r.path === '/v1/fine-tunes')!.body);
  expect(created).toEqual({
    base_model: 'bm_demo',
    dataset_id: 'ds_3',
    adapter_name: 'recipes',
    hyperparameters: {
      epochs: 3,
      learning_rate: 0.002,
      rank: 8,
      alpha: 16,
      batch_size: 8,
      max_sequence_length: 128,
      seed: 0,
    },
    validation_split: 0.1,
    access_group_id: 'grp_1',
  });
  expect(
    requests.filter((r) => r.method === 'PATCH'),
    'the group goes with the job, not in a second call',
  ).toEqual([]);
});
