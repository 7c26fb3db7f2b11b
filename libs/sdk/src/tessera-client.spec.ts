import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listAll } from './tessera-client.js';

describe('listAll', () => {
  it('follows the cursor across pages until has_more is false', async () => {
    const pages = [
      { data: [{ id: 'a' }, { id: 'b' }], has_more: true },
      { data: [{ id: 'c' }, { id: 'd' }], has_more: true },
      { data: [{ id: 'e' }], has_more: false },
    ];
    const afters: Array<string | undefined> = [];
    const items = await listAll(async (after) => {
      afters.push(after);
      return { data: pages[afters.length - 1] };
    });
    assert.deepEqual(
      items.map((item) => item.id),
      ['a', 'b', 'c', 'd', 'e'],
    );
    assert.deepEqual(afters, [undefined, 'b', 'd']);
  });
});
