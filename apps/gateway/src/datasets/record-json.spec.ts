import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRecordJson } from './record-json.js';

describe('record JSON', () => {
  const cases: { name: string; text: string; expected: ReturnType<typeof parseRecordJson> }[] = [
    {
      name: 'a record',
      text: '{"text":"hi","n":[1,{"a":2}]}',
      expected: { ok: true, value: { text: 'hi', n: [1, { a: 2 }] } },
    },
    { name: 'not JSON', text: '{"text":', expected: { ok: false, reason: 'not-json' } },
    { name: 'exactly the depth limit', text: '[[[{"a":1}]]]', expected: { ok: true, value: [[[{ a: 1 }]]] } },
    { name: 'one level deeper', text: '[[[{"a":[]}]]]', expected: { ok: false, reason: 'too-deep', maxDepth: 4 } },
    {
      name: '__proto__ at the top',
      text: '{"text":"x","__proto__":{"admin":true}}',
      expected: { ok: false, reason: 'prototype-key', key: '__proto__', path: '__proto__' },
    },
    {
      name: 'constructor deep inside',
      text: '{"messages":[{"role":"user","constructor":{"prototype":{}}}]}',
      expected: { ok: false, reason: 'prototype-key', key: 'constructor', path: 'messages.0.constructor' },
    },
    {
      name: 'a bare prototype key',
      text: '{"a":{"prototype":1}}',
      expected: { ok: false, reason: 'prototype-key', key: 'prototype', path: 'a.prototype' },
    },
    {
      name: 'those words as values',
      text: '{"text":"__proto__ constructor prototype"}',
      expected: { ok: true, value: { text: '__proto__ constructor prototype' } },
    },
  ];
  for (const { name, text, expected } of cases)
    it(`parses ${name}`, () => assert.deepEqual(parseRecordJson(text, 4), expected));

  it('refuses a million levels of nesting without overflowing the stack', () => {
    const deep = `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`;
    assert.deepEqual(parseRecordJson(deep, 8), { ok: false, reason: 'too-deep', maxDepth: 8 });
  });

  it('leaves Object.prototype alone', () => {
    const parsed = parseRecordJson('{"__proto__":{"polluted":true}}', 4);
    assert.equal(parsed.ok, false);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
