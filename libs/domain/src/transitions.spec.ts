import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AdapterVersionStatus,
  CompositionStatus,
  DeletionStatus,
  DocumentStatus,
  JobStatus,
  WebhookDeliveryStatus,
} from '@tessera/db';
import { canMove, INITIAL, sourcesOf, TRANSITIONS, type Lifecycle } from './transitions.js';

/** Each lifecycle's statuses as the database defines them: the table must name every one. */
const ENUMS: Record<Lifecycle, Record<string, string>> = {
  job: JobStatus,
  adapterVersion: AdapterVersionStatus,
  composition: CompositionStatus,
  deletion: DeletionStatus,
  document: DocumentStatus,
  webhookDelivery: WebhookDeliveryStatus,
};

/** What the platform relies on, move by move: [lifecycle, from, to, allowed]. */
const CASES: [Lifecycle, string, string, boolean][] = [
  ['job', 'queued', 'running', true],
  ['job', 'running', 'running', true], // a retried attempt
  ['job', 'queued', 'succeeded', true], // a partitioned parent
  ['job', 'queued', 'cancelled', true],
  ['job', 'succeeded', 'running', false], // an ended job never runs again
  ['job', 'failed', 'succeeded', false],
  ['job', 'cancelled', 'queued', false],
  ['adapterVersion', 'queued', 'ready', true], // an upload's weights arrived
  ['adapterVersion', 'training', 'ready', true],
  ['adapterVersion', 'ready', 'stale', true], // a deletion reached it
  ['adapterVersion', 'stale', 'stale', true], // a second deletion
  ['adapterVersion', 'stale', 'ready', false], // nothing stale is ever served again
  ['adapterVersion', 'stale', 'training', false],
  ['adapterVersion', 'deleted', 'ready', false],
  ['adapterVersion', 'archived', 'ready', false],
  ['composition', 'queued', 'building', true],
  ['composition', 'building', 'ready', true],
  ['composition', 'ready', 'stale', true],
  ['composition', 'stale', 'queued', true], // rebuilt over the retrained versions
  ['composition', 'stale', 'ready', true], // a knowledge base whose partitions are retrained
  ['composition', 'stale', 'building', false], // a build must be queued by the rebuild first
  ['composition', 'failed', 'ready', false],
  ['deletion', 'pending', 'retraining', true],
  ['deletion', 'retraining', 'auditing', true],
  ['deletion', 'auditing', 'completed', true],
  ['deletion', 'completed', 'failed', false],
  ['deletion', 'pending', 'completed', false], // never without the retrain and the audit
  ['document', 'active', 'deleting', true],
  ['document', 'deleting', 'deleted', true],
  ['document', 'deleted', 'active', false], // a deleted document never comes back
  ['document', 'deleting', 'active', false],
  ['webhookDelivery', 'pending', 'pending', true], // the next attempt is scheduled
  ['webhookDelivery', 'failed', 'pending', true], // redelivered
  ['webhookDelivery', 'succeeded', 'failed', false],
  // The remaining allowed moves, each for its reason.
  ['job', 'queued', 'failed', true], // the queue was unavailable, or the inputs are bad
  ['job', 'running', 'succeeded', true],
  ['job', 'running', 'failed', true],
  ['job', 'running', 'cancelled', true], // cancelled by its caller, or its composition went stale
  ['adapterVersion', 'queued', 'training', true],
  ['adapterVersion', 'queued', 'stale', true], // a deletion before its training started
  ['adapterVersion', 'queued', 'archived', true], // its fine-tune was cancelled before it started
  ['adapterVersion', 'queued', 'deleted', true],
  ['adapterVersion', 'training', 'training', true], // a resumed training
  ['adapterVersion', 'training', 'stale', true],
  ['adapterVersion', 'training', 'archived', true], // failed, or a twin of another retrain
  ['adapterVersion', 'training', 'deleted', true],
  ['adapterVersion', 'ready', 'archived', true],
  ['adapterVersion', 'ready', 'deleted', true],
  ['adapterVersion', 'stale', 'deleted', true],
  ['adapterVersion', 'archived', 'deleted', true],
  ['composition', 'queued', 'stale', true],
  ['composition', 'queued', 'failed', true],
  ['composition', 'building', 'building', true], // a retried build
  ['composition', 'building', 'stale', true],
  ['composition', 'building', 'failed', true],
  ['composition', 'ready', 'archived', true],
  ['composition', 'stale', 'stale', true], // a second deletion
  ['composition', 'stale', 'failed', true], // a member has no documents left
  ['deletion', 'pending', 'failed', true],
  ['deletion', 'retraining', 'failed', true],
  ['deletion', 'auditing', 'failed', true],
  ['webhookDelivery', 'pending', 'succeeded', true],
  ['webhookDelivery', 'pending', 'failed', true],
  ['webhookDelivery', 'succeeded', 'pending', true], // redelivered
];

describe('the lifecycle transition tables', () => {
  for (const [lifecycle, from, to, allowed] of CASES) {
    it(`${lifecycle}: ${from} → ${to} is ${allowed ? 'allowed' : 'refused'}`, () => {
      assert.equal(canMove(lifecycle, from as never, to as never), allowed);
      assert.equal(sourcesOf(lifecycle, to as never).includes(from as never), allowed);
    });
  }

  it('names every status of every lifecycle, and only those', () => {
    for (const [lifecycle, statuses] of Object.entries(ENUMS) as [Lifecycle, Record<string, string>][]) {
      const table = TRANSITIONS[lifecycle] as Record<string, readonly string[]>;
      assert.deepEqual(Object.keys(table).sort(), Object.values(statuses).sort(), lifecycle);
      for (const targets of Object.values(table))
        for (const to of targets) assert.ok(to in table, `${lifecycle}: ${to}`);
    }
  });

  it('reaches every status from a status rows are created in', () => {
    for (const lifecycle of Object.keys(TRANSITIONS) as Lifecycle[]) {
      const table = TRANSITIONS[lifecycle] as Record<string, readonly string[]>;
      const reached = new Set<string>(INITIAL[lifecycle]);
      for (let grew = true; grew;) {
        grew = false;
        for (const from of [...reached])
          for (const to of table[from]!) if (!reached.has(to)) grew = reached.add(to).size > 0;
      }
      assert.deepEqual([...reached].sort(), Object.keys(table).sort(), `${lifecycle}: a status no row can reach`);
    }
  });

  it('has a case for every move the tables allow', () => {
    const covered = new Set(CASES.filter((c) => c[3]).map(([l, f, t]) => `${l} ${f}→${t}`));
    const allowed = (Object.keys(TRANSITIONS) as Lifecycle[]).flatMap((l) =>
      Object.entries(TRANSITIONS[l] as Record<string, readonly string[]>).flatMap(([f, targets]) =>
        targets.map((t) => `${l} ${f}→${t}`),
      ),
    );
    assert.deepEqual(
      allowed.filter((move) => !covered.has(move)),
      [],
      'an allowed move without a case saying why',
    );
  });
});
