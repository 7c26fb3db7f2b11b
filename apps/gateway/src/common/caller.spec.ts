import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasScope } from './caller.js';

describe('hasScope', () => {
  it('lets admin do everything and write read, and nothing else implies anything', () => {
    assert.equal(hasScope(['admin'], 'infer'), true);
    assert.equal(hasScope(['write'], 'read'), true);
    assert.equal(hasScope(['write'], 'admin'), false);
    assert.equal(hasScope(['read'], 'write'), false);
    assert.equal(hasScope(['infer'], 'read'), false);
    assert.equal(hasScope(['read', 'infer'], 'infer'), true);
  });
});
