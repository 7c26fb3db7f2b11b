import { render, screen } from '@testing-library/react';
import { TesseraProblemError } from '@tessera/sdk';
import { expect, test } from 'vitest';
import { ProblemMessage } from './ProblemMessage.js';

test('a problem shows its title, detail, every field error and the request id', async () => {
  const response = new Response(
    JSON.stringify({
      type: '/problems/validation',
      title: 'Invalid request',
      status: 400,
      detail: '2 lines are not valid',
      errors: [
        { field: 'line 3', message: 'text is required' },
        { field: 'line 7', message: 'not JSON' },
      ],
    }),
    { status: 400, headers: { 'x-request-id': 'req_42' } },
  );
  render(<ProblemMessage error={await TesseraProblemError.fromResponse(response)} />);
  const alert = screen.getByRole('alert');
  expect(alert.textContent).toContain('Invalid request');
  expect(alert.textContent).toContain('2 lines are not valid');
  expect(screen.getByText('line 3').parentElement?.textContent).toContain('text is required');
  expect(screen.getByText('line 7').parentElement?.textContent).toContain('not JSON');
  expect(alert.textContent).toContain('request req_42');
});

test('a network failure says the gateway could not be reached', () => {
  render(<ProblemMessage error={new TypeError('fetch failed')} />);
  expect(screen.getByRole('alert').textContent).toMatch(/Could not reach the gateway.*fetch failed/);
});
