import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { shownSecret } from './shown-once.js';

describe('shownSecret', () => {
  it('gives the secret of an original response and throws for a replay, which carries null', () => {
    assert.equal(shownSecret({ secret: 'tsk_abc' }), 'tsk_abc');
    assert.throws(() => shownSecret({ secret: null }), /idempotent replay/);
  });
});
