import { render, screen } from '@testing-library/react';
import { expect, test } from 'vitest';
import { SecretOnce } from './SecretOnce.js';

test('a secret is shown with a copy button; a replayed answer (secret null) says it was shown only the first time', () => {
  const { unmount } = render(<SecretOnce label="Secret of key k" secret="tsk_abc" onDismiss={() => undefined} />);
  expect(screen.getByTestId('secret-value').textContent).toBe('tsk_abc');
  expect(screen.getByRole('button', { name: 'Copy' })).toBeTruthy();
  unmount();

  render(<SecretOnce label="Secret of key k" secret={null} onDismiss={() => undefined} />);
  expect(screen.queryByTestId('secret-value')).toBeNull();
  expect(screen.getByRole('status', { name: 'Secret of key k' }).textContent).toContain('shown only the first time');
});
