import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { expect, test } from 'vitest';
import { App } from './App.js';
import { ApiProvider } from './api.js';
import { json, problem } from './testing/render-with-api.js';

function renderApp(fetch: typeof globalThis.fetch) {
  return render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <ApiProvider baseUrl="http://gateway.test" fetch={fetch}>
        <App />
      </ApiProvider>
    </QueryClientProvider>,
  );
}

test('a wrong key is refused with the problem in words and nothing is kept', async () => {
  renderApp((async () => problem(401, 'The API key is not valid')) as typeof fetch);
  fireEvent.change(screen.getByLabelText('API key'), { target: { value: 'tsk_wrong' } });
  fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
  expect((await screen.findByRole('alert')).textContent).toContain('The API key is not valid');
  expect(sessionStorage.getItem('tessera.apiKey')).toBeNull();
});

test('a key the gateway accepts signs in and shows the navigation', async () => {
  const me = { tenant_id: 'ten_1', api_key_id: 'key_1', principal_id: 'prn_1', scopes: ['admin'], group_ids: [] };
  renderApp((async () => json(me)) as typeof fetch);
  fireEvent.change(screen.getByLabelText('API key'), { target: { value: 'tsk_good' } });
  fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
  expect(await screen.findByRole('navigation', { name: 'Main' })).toBeTruthy();
  expect(sessionStorage.getItem('tessera.apiKey')).toBe('tsk_good');
});

test('signing out forgets what the key loaded, and a 401 on any query signs out', async () => {
  const me = { tenant_id: 'ten_1', api_key_id: 'key_1', principal_id: 'prn_1', scopes: ['admin'], group_ids: [] };
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  let revoked = false;
  const fetch = (async (input: Request) => {
    if (revoked) return problem(401, 'The API key was revoked');
    return new URL(input.url).pathname === '/v1/me' ? json(me) : problem(404, 'not in this test');
  }) as typeof globalThis.fetch;
  render(
    <QueryClientProvider client={queryClient}>
      <ApiProvider baseUrl="http://gateway.test" fetch={fetch}>
        <App />
      </ApiProvider>
    </QueryClientProvider>,
  );
  fireEvent.change(screen.getByLabelText('API key'), { target: { value: 'tsk_good' } });
  fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
  await screen.findByRole('navigation', { name: 'Main' });
  await waitFor(() => expect(queryClient.getQueryData(['me'])).toEqual(me));

  fireEvent.click(screen.getByRole('button', { name: 'Sign out' }));
  expect(await screen.findByLabelText('API key')).toBeTruthy();
  expect(queryClient.getQueryCache().getAll()).toHaveLength(0);

  fireEvent.change(screen.getByLabelText('API key'), { target: { value: 'tsk_good' } });
  fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
  await screen.findByRole('navigation', { name: 'Main' });
  revoked = true;
  await queryClient.refetchQueries();
  expect(await screen.findByLabelText('API key')).toBeTruthy();
  expect(sessionStorage.getItem('tessera.apiKey')).toBeNull();
});
