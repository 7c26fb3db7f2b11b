import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { Schemas } from '@tessera/sdk';
import { expect, test } from 'vitest';
import { json, renderWithApi } from '../testing/render-with-api.js';
import { AccessPage } from './AccessPage.js';

const group = {
  id: 'grp_1',
  name: 'legal',
  description: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
};
const principal = { id: 'prn_1', kind: 'user', name: 'ada', email: null, created_at: '2026-01-01T00:00:00Z' };
const key = {
  id: 'key_1',
  name: 'admin',
  principal_id: 'prn_1',
  display_prefix: 'tsk_ab12',
  scopes: ['admin'],
  rate_limit_per_minute: null,
  created_at: '2026-01-01T00:00:00Z',
  last_used_at: null,
  expires_at: null,
  revoked_at: null,
};
const page = (data: unknown[]) => ({ data, has_more: false });

test('creating an API key shows its secret once, adds the key to the ticked groups, and the list never holds the secret', async () => {
  let keys = [key];
  const created = {
    ...key,
    id: 'key_2',
    name: 'reader',
    display_prefix: 'tsk_cd34',
    scopes: ['read', 'infer'],
    secret: 'tsk_cd34_the_whole_secret',
  };
  const { requests } = renderWithApi(<AccessPage />, {
    'GET /v1/groups': page([group]),
    'GET /v1/principals': page([principal]),
    'GET /v1/api-keys': () => json(page(keys)),
    'POST /v1/api-keys': () => {
      const { secret: _, ...listed } = created;
      keys = [...keys, listed];
      return json(created, 201);
    },
    'POST /v1/groups/grp_1/members': () =>
      json({ id: 'mem_1', group_id: 'grp_1', principal_id: null, api_key_id: 'key_2', created_at: '' }, 201),
  });
  const form = screen.getByRole('form', { name: 'New API key' });
  fireEvent.change(within(form).getByLabelText('Key name'), { target: { value: 'reader' } });
  fireEvent.click(await within(form).findByRole('checkbox', { name: 'legal' }));
  fireEvent.click(within(form).getByRole('button', { name: 'Create key' }));

  expect((await screen.findByTestId('secret-value')).textContent).toBe('tsk_cd34_the_whole_secret');
  expect(screen.getByRole('button', { name: 'Copy' })).toBeTruthy();
  expect(JSON.parse(requests.find((r) => r.method === 'POST' && r.path === '/v1/api-keys')!.body)).toEqual({
    name: 'reader',
    scopes: ['read', 'infer'],
  });
  await waitFor(() =>
    expect(requests.find((r) => r.path === '/v1/groups/grp_1/members')?.body).toBe(
      JSON.stringify({ api_key_id: 'key_2' }),
    ),
  );

  const list = await screen.findByRole('table', { name: 'API keys' });
  await within(list).findByText('reader');
  expect(within(list).getByText('tsk_cd34…')).toBeTruthy();
  expect(list.textContent).not.toContain('the_whole_secret');
  fireEvent.click(screen.getByRole('button', { name: 'I have stored it' }));
  expect(screen.queryByText(/the_whole_secret/)).toBeNull();
});

test('revoking a key posts revoke and shows it revoked', async () => {
  let revoked = false;
  const { requests } = renderWithApi(<AccessPage />, {
    'GET /v1/groups': page([]),
    'GET /v1/principals': page([principal]),
    'GET /v1/api-keys': () => json(page([{ ...key, revoked_at: revoked ? '2026-01-02T00:00:00Z' : null }])),
    'POST /v1/api-keys/key_1/revoke': () => {
      revoked = true;
      return json({ ...key, revoked_at: '2026-01-02T00:00:00Z' });
    },
  });
  fireEvent.click(await screen.findByRole('button', { name: 'Revoke admin' }));
  expect(await screen.findByText('revoked')).toBeTruthy();
  expect(requests.some((r) => r.method === 'POST' && r.path === '/v1/api-keys/key_1/revoke')).toBe(true);
});

test('a group’s members: add a principal, remove a member', async () => {
  let members: Schemas['GroupMembership'][] = [
    { id: 'mem_1', group_id: 'grp_1', principal_id: null, api_key_id: 'key_1', created_at: '2026-01-01T00:00:00Z' },
  ];
  const { requests } = renderWithApi(<AccessPage />, {
    'GET /v1/groups': page([group]),
    'GET /v1/principals': page([principal]),
    'GET /v1/api-keys': page([key]),
    'GET /v1/groups/grp_1/members': () => json(page(members)),
    'POST /v1/groups/grp_1/members': () => {
      members = [
        ...members,
        { id: 'mem_2', group_id: 'grp_1', principal_id: 'prn_1', api_key_id: null, created_at: '2026-01-01T00:00:00Z' },
      ];
      return json(members.at(-1), 201);
    },
    'DELETE /v1/groups/grp_1/members/mem_1': () => {
      members = members.filter((m) => m.id !== 'mem_1');
      return new Response(null, { status: 204 });
    },
  });
  fireEvent.click(await screen.findByRole('button', { name: 'Members of legal' }));
  const panel = screen.getByRole('region', { name: 'Members of legal' });
  await within(panel).findByText('admin');
  await within(panel).findByRole('option', { name: 'ada (user)' });
  fireEvent.change(within(panel).getByLabelText('Add member'), { target: { value: 'principal:prn_1' } });
  fireEvent.click(within(panel).getByRole('button', { name: 'Add' }));
  await within(panel).findByText('ada');
  expect(JSON.parse(requests.find((r) => r.method === 'POST')!.body)).toEqual({ principal_id: 'prn_1' });

  const keyRow = within(panel).getByText('admin').closest('tr')!;
  fireEvent.click(within(keyRow).getByRole('button', { name: 'Remove' }));
  await waitFor(() => expect(within(panel).queryByText('admin')).toBeNull());
  expect(requests.some((r) => r.method === 'DELETE' && r.path === '/v1/groups/grp_1/members/mem_1')).toBe(true);
});

test('creating a group sends its name', async () => {
  const { requests } = renderWithApi(<AccessPage />, {
    'GET /v1/groups': page([]),
    'GET /v1/principals': page([]),
    'GET /v1/api-keys': page([]),
    'POST /v1/groups': () => json(group, 201),
  });
  fireEvent.change(screen.getByLabelText('Group name'), { target: { value: 'legal' } });
  fireEvent.click(screen.getByRole('button', { name: 'Create group' }));
  await waitFor(() => expect(requests.some((r) => r.method === 'POST' && r.path === '/v1/groups')).toBe(true));
  expect(JSON.parse(requests.find((r) => r.method === 'POST')!.body)).toEqual({ name: 'legal' });
});
