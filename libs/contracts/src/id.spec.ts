import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idSchema, newId } from './id.js';

describe('newId', () => {
  it('makes prefixed ids that the schema of their kind accepts and others refuse', () => {
    const id = newId('grp');
    assert.match(id, /^grp_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(idSchema('grp').safeParse(id).success, true);
    assert.equal(idSchema('prn').safeParse(id).success, false);
  });

  it('sorts by creation time, which cursor pagination relies on', () => {
    const earlier = newId('grp', 1_700_000_000_000);
    const later = newId('grp', 1_700_000_000_001);
    assert.ok(earlier < later);
    const ids = Array.from({ length: 50 }, (_, i) => newId('key', 1_800_000_000_000 + i * 1000));
    assert.deepEqual([...ids].sort(), ids);
  });

  it('does not repeat', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId('doc', 0)));
    assert.equal(ids.size, 10_000);
  });
});
