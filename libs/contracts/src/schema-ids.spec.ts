import assert from 'node:assert/strict';
import { it } from 'node:test';
import { z } from 'zod';
import * as contracts from './index.js';

it('no two exported schemas share an OpenAPI component name', () => {
  // The OpenAPI writer names components by meta id; a second schema with the same id would
  // silently take the first one's place in the document and the SDK.
  const owners = new Map<string, string>();
  for (const [exportName, value] of Object.entries(contracts)) {
    if (!(value instanceof z.ZodType)) continue;
    const id = z.globalRegistry.get(value)?.id;
    if (!id) continue;
    assert.equal(owners.get(id) ?? exportName, exportName, `${exportName} and ${owners.get(id)} are both "${id}"`);
    owners.set(id, exportName);
  }
  assert.ok(owners.size > 20, `found only ${owners.size} named schemas`);
});
