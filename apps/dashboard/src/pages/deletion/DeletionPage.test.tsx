import { screen, within } from '@testing-library/react';
import type { Schemas } from '@tessera/sdk';
import { expect, test } from 'vitest';
import { json, renderWithApi } from '../../testing/render-with-api.js';
import { DeletionPage } from '../DeletionPage.js';

const at = '2025-01-01T00:00:00Z';
const pending: Schemas['Deletion'] = {
  id: 'del_1',
  object: 'deletion',
  status: 'retraining',
  reason: null,
  documents: ['doc_1'],
  affected_versions: ['adv_1'],
  steps: [
    { name: 'marked_stale', at, detail: { versions: ['adv_1'] } },
    { name: 'audited_before', at, detail: { deleted_loss: 1.234 } },
    { name: 'weights_erased', at },
    { name: 'caches_evicted', at, detail: { workers: 2, acknowledged: 2 } },
  ],
  proof: null,
  error: null,
  created_at: at,
  completed_at: null,
};
const completed: Schemas['Deletion'] = {
  ...pending,
  status: 'completed',
  steps: [
    ...pending.steps,
    { name: 'retrained', at },
    { name: 'compositions_rebuilt', at },
    { name: 'audited_after', at },
    { name: 'data_erased', at },
    { name: 'completed', at },
  ],
  completed_at: at,
  proof: {
    deleted_loss_before: 1.234,
    deleted_loss_after: 3.456,
    held_out: { mean: 3.5, std: 0.2, min: 3.1, max: 3.9, count: 12 },
    verdict: 'looks_unseen',
    verdict_reason: 'the deleted text scored like trained text before (1.234) and like never-seen text after (3.456)',
    looks_unseen: true,
    statistic: { unseen_line: 3.1, margin: 0.4, z_before: -11.33, z_after: -0.22 },
    retrained_versions: [{ adapter_id: 'ad_1', old_version: 1, new_version: 2, seconds: 4.2 }],
    caches_evicted: { workers: 2, acknowledged: 2, timed_out: false },
  },
};

const stateOf = (name: string) => document.querySelector(`[data-step="${name}"]`)?.getAttribute('data-state');

test('a running deletion shows each step with its state and the stale versions, and no proof yet', async () => {
  renderWithApi(<DeletionPage deletionId="del_1" />, { 'GET /v1/deletions/del_1': pending });
  await screen.findByRole('list', { name: 'Steps' });
  expect(
    [
      'marked_stale',
      'audited_before',
      'weights_erased',
      'caches_evicted',
      'retrained',
      'compositions_rebuilt',
      'audited_after',
      'data_erased',
      'completed',
    ].map(stateOf),
  ).toEqual(['done', 'done', 'done', 'done', 'running', 'waiting', 'waiting', 'waiting', 'waiting']);
  expect(screen.getByTestId('affected-versions').textContent).toContain('adv_1');
  expect(screen.queryByTestId('deletion-proof')).toBeNull();
});

test('the page polls until the deletion completes, then shows the proof figures and says it looks unseen', async () => {
  let calls = 0;
  renderWithApi(<DeletionPage deletionId="del_1" />, {
    'GET /v1/deletions/del_1': () => json(++calls === 1 ? pending : completed),
  });
  const proof = await screen.findByTestId('deletion-proof', {}, { timeout: 4000 });
  expect(calls).toBe(2);
  expect(within(proof).getByTestId('loss-before').textContent).toBe('1.234');
  expect(within(proof).getByTestId('loss-after').textContent).toBe('3.456');
  expect(within(proof).getByTestId('unseen-mean').textContent).toBe('3.500 ± 0.200');
  expect(within(proof).getByTestId('unseen-min').textContent).toBe('3.100');
  expect(within(proof).getByTestId('unseen-max').textContent).toBe('3.900');
  expect(within(proof).getByTestId('looks-unseen').textContent).toMatch(
    /^Looks unseen: the deleted text scored like trained text before/,
  );
  expect(within(proof).getByTestId('unseen-line').textContent).toBe('3.100 (mean − 0.400)');
  expect(within(proof).getByTestId('z-scores').textContent).toBe('-11.3σ → -0.2σ');
  expect(within(proof).getByTestId('caches-evicted').textContent).toBe('2 of 2');
  expect(within(proof).getByRole('img').getAttribute('aria-label')).toContain('1.234 before, 3.456 after');
  expect(within(proof).getByTestId('unseen-band')).toBeTruthy();
  expect(stateOf('completed')).toBe('done');
});

test('an inconclusive proof says so with its reason', async () => {
  const reason = 'there are 0 documents no adapter trained on to compare with; at least 3 are needed';
  renderWithApi(<DeletionPage deletionId="del_1" />, {
    'GET /v1/deletions/del_1': {
      ...completed,
      proof: {
        ...completed.proof!,
        held_out: null,
        verdict: 'inconclusive',
        verdict_reason: reason,
        looks_unseen: false,
        statistic: null,
      },
    },
  });
  expect((await screen.findByTestId('looks-unseen')).textContent).toBe(`Inconclusive: ${reason}.`);
  expect(screen.queryByTestId('unseen-band')).toBeNull();
});
