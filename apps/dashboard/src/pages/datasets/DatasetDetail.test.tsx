import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Schemas } from '@tessera/sdk';
import { afterEach, expect, test, vi } from 'vitest';
import { renderWithApi } from '../../testing/render-with-api.js';
import { DatasetDetail } from './DatasetDetail.js';

const dataset = (status: Schemas['DatasetStatus'], documentCount = 0): Schemas['Dataset'] => ({
  id: 'ds_1',
  name: 'recipes',
  format: 'text',
  status,
  bytes: 120,
  record_count: documentCount,
  document_count: documentCount,
  token_count: 100,
  access_group_ids: [],
  created_at: '2025-01-01T00:00:00Z',
  updated_at: '2025-01-01T00:00:00Z',
});

/** Answers the upload's XMLHttpRequest: reports the body sent, then the given status and body. */
function fakeXhr(status: number, body: unknown, sent: Array<{ url: string; headers: Record<string, string> }>) {
  return class {
    upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null };
    onload: (() => void) | null = null;
    onerror: (() => void) | null = null;
    onabort: (() => void) | null = null;
    status = 0;
    statusText = '';
    responseText = '';
    private url = '';
    private headers: Record<string, string> = {};
    open(_method: string, url: string) {
      this.url = url;
    }
    setRequestHeader(name: string, value: string) {
      this.headers[name] = value;
    }
    getResponseHeader(name: string) {
      return name === 'content-type' ? 'application/problem+json' : null;
    }
    abort() {}
    send(file: Blob) {
      sent.push({ url: this.url, headers: this.headers });
      setTimeout(() => {
        this.upload.onprogress?.({ loaded: file.size, total: file.size, lengthComputable: true } as ProgressEvent);
        this.status = status;
        this.responseText = JSON.stringify(body);
        this.onload?.();
      }, 0);
    }
  };
}

afterEach(() => vi.unstubAllGlobals());

test('a rejected upload lists its bad lines by number with the reason', async () => {
  const sent: Array<{ url: string; headers: Record<string, string> }> = [];
  vi.stubGlobal(
    'XMLHttpRequest',
    fakeXhr(
      400,
      {
        type: '/problems/validation',
        title: 'Invalid request',
        status: 400,
        detail: '2 line(s) of the upload are not valid text records; nothing was stored',
        errors: [
          { field: 'line 2', message: 'not valid JSON' },
          { field: 'line 5', message: 'not a text record: text: Invalid input' },
        ],
      },
      sent,
    ),
  );
  renderWithApi(<DatasetDetail datasetId="ds_1" />, {
    'GET /v1/datasets/ds_1': dataset('uploading'),
    'GET /v1/groups': { data: [], has_more: false },
  });

  const file = new File(['{"text":"a"}\nnot json\n'], 'recipes.jsonl', { type: 'application/x-ndjson' });
  await userEvent.upload(await screen.findByLabelText('JSONL file'), file);
  await userEvent.click(screen.getByRole('button', { name: 'Upload' }));

  const table = await screen.findByTestId('upload-errors');
  const rows = within(table)
    .getAllByRole('row')
    .slice(1)
    .map((row) =>
      within(row)
        .getAllByRole('cell')
        .map((cell) => cell.textContent),
    );
  expect(rows).toEqual([
    ['2', 'not valid JSON'],
    ['5', 'not a text record: text: Invalid input'],
  ]);
  expect(screen.getByRole('alert').textContent).toContain('nothing was stored');
  expect(sent).toEqual([
    {
      url: 'http://gateway.test/v1/datasets/ds_1/content',
      headers: { authorization: 'Bearer tsk_test', 'content-type': 'application/x-ndjson' },
    },
  ]);
});

test('a ready dataset lists its documents, and deleting one opens its deletion request', async () => {
  const documents: Schemas['Document'][] = [
    {
      id: 'doc_1',
      dataset_id: 'ds_1',
      document_id: 'r1',
      access_group_id: 'grp_1',
      content_hash: 'h',
      record_count: 1,
      token_count: 40,
      status: 'active',
      created_at: '2025-01-01T00:00:00Z',
    },
    {
      id: 'doc_2',
      dataset_id: 'ds_1',
      document_id: 'r2',
      access_group_id: null,
      content_hash: 'h',
      record_count: 1,
      token_count: 60,
      status: 'deleted',
      created_at: '2025-01-01T00:00:00Z',
    },
  ];
  const { requests } = renderWithApi(<DatasetDetail datasetId="ds_1" />, {
    'GET /v1/datasets/ds_1': dataset('ready', 2),
    'GET /v1/datasets/ds_1/documents': { data: documents, has_more: false },
    'GET /v1/groups': {
      data: [{ id: 'grp_1', name: 'research', description: null, created_at: '', updated_at: '' }],
      has_more: false,
    },
    'POST /v1/deletions': { id: 'del_9', status: 'pending' },
  });

  const table = await screen.findByTestId('documents-table');
  await waitFor(() => expect(within(table).getByText('research')).toBeTruthy());
  expect(screen.getByTestId('document-count').textContent).toBe('2');
  // A deleted document cannot be chosen; one delete button serves every row chosen.
  expect(within(table).queryByRole('checkbox', { name: 'Select document r2' })).toBeNull();
  const deleteSelected = screen.getByRole('button', { name: 'Delete selected' });
  expect((deleteSelected as HTMLButtonElement).disabled).toBe(true);

  await userEvent.click(within(table).getByRole('checkbox', { name: 'Select document r1' }));
  await userEvent.click(screen.getByRole('button', { name: 'Delete selected (1)' }));
  await userEvent.click(screen.getByRole('button', { name: 'Confirm deleting 1 document' }));
  await waitFor(() => expect(window.location.hash).toBe('#/deletions/del_9'));
  const sent = requests.find((r) => r.method === 'POST' && r.path === '/v1/deletions');
  expect(JSON.parse(sent!.body)).toEqual({ documents: [{ document_id: 'doc_1' }] });
});
