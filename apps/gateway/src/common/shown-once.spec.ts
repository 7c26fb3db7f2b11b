import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withoutShownOnce } from './shown-once.decorator.js';

describe('withoutShownOnce', () => {
  it('sets each named field to null in a copy, top-level and nested, leaving the rest', () => {
    const body = { id: 'ten_1', api_key: { id: 'key_1', secret: 'tsk_x' }, secret: 'whsec_y' };
    assert.deepEqual(withoutShownOnce(body, ['secret', 'api_key.secret']), {
      id: 'ten_1',
      api_key: { id: 'key_1', secret: null },
      secret: null,
    });
    assert.equal(body.api_key.secret, 'tsk_x', 'the response the caller gets keeps its secret');
  });

  it('throws for a field the body lacks, rather than keep a body that may hold the secret', () => {
    for (const path of ['key', 'api_key.key', 'secret.inner', 'missing.secret']) {
      assert.throws(() => withoutShownOnce({ secret: 's', api_key: { secret: 't' } }, [path]), /no shown-once field/);
    }
  });
});
