import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deletionVerdict } from './deletion-verdict.js';

const heldOut = { mean: 4.275, std: 0.205, min: 3.876, max: 4.7, count: 32 };

describe('deletionVerdict', () => {
  const cases: {
    name: string;
    before: number;
    after: number;
    held: typeof heldOut | null;
    verdict: 'looks_unseen' | 'inconclusive';
    reason?: RegExp;
  }[] = [
    {
      name: 'learned before, unseen-like after (the demo)',
      before: 2.054,
      after: 6.106,
      held: heldOut,
      verdict: 'looks_unseen',
    },
    {
      name: 'learned before, inside the never-seen band after',
      before: 2.0,
      after: 3.9,
      held: heldOut,
      verdict: 'looks_unseen',
    },
    {
      name: 'never scored like trained text (the issue: 0.948 → 0.963 vs 0.672)',
      before: 0.948,
      after: 0.963,
      held: { mean: 0.672, std: 0.05, min: 0.6, max: 0.75, count: 12 },
      verdict: 'inconclusive',
      reason: /never scored like trained text/,
    },
    {
      name: 'still trained-like after the retrain',
      before: 2.0,
      after: 3.0,
      held: heldOut,
      verdict: 'inconclusive',
      reason: /still scores like trained text/,
    },
    {
      name: 'no never-trained documents',
      before: 2.0,
      after: 6.0,
      held: null,
      verdict: 'inconclusive',
      reason: /0 documents/,
    },
    {
      name: 'too few never-trained documents',
      before: 2.0,
      after: 6.0,
      held: { ...heldOut, count: 2 },
      verdict: 'inconclusive',
      reason: /at least 3/,
    },
    {
      name: 'a held-out sample with no spread still gets a margin',
      before: 4.2,
      after: 4.3,
      held: { mean: 4.3, std: 0, min: 4.3, max: 4.3, count: 5 },
      verdict: 'looks_unseen',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = deletionVerdict(c.before, c.after, c.held);
      assert.equal(result.verdict, c.verdict, result.verdict_reason);
      assert.equal(result.looks_unseen, c.verdict === 'looks_unseen');
      if (c.reason) assert.match(result.verdict_reason, c.reason);
    });
  }

  it('states the line it judged by: mean − max(2σ, 0.05)', () => {
    const result = deletionVerdict(2, 6, heldOut);
    assert.ok(result.statistic);
    assert.ok(Math.abs(result.statistic.unseen_line - (4.275 - 0.41)) < 1e-12);
    assert.ok(Math.abs(result.statistic.z_before! - (2 - 4.275) / 0.205) < 1e-12);
  });
});
