import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

describe('bad input', () => {
  let gateway: TestGateway;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let groupId: string;

  before(async () => {
    gateway = await startTestGateway({ BODY_LIMIT_BYTES: '4096' });
    tenant = await createTenant(gateway);
    groupId = (await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'kept' } })).body.id;
  });
  after(() => gateway.close());

  const snapshot = async () => {
    const groups = await call(gateway, 'GET', '/v1/groups?limit=100', { key: tenant.adminKey });
    const principals = await call(gateway, 'GET', '/v1/principals?limit=100', { key: tenant.adminKey });
    const keys = await call(gateway, 'GET', '/v1/api-keys?limit=100', { key: tenant.adminKey });
    return JSON.stringify([groups.body, principals.body, keys.body]);
  };

  const json = { 'content-type': 'application/json' };
  const cases: {
    name: string;
    method: string;
    path: () => string;
    rawBody?: string;
    body?: unknown;
    headers?: Record<string, string>;
    status: number;
    type: string;
    field?: string;
  }[] = [
    {
      name: 'malformed JSON',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: '{"name": "x",',
      headers: json,
      status: 400,
      type: 'malformed-json',
    },
    {
      name: 'empty JSON body',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: '',
      headers: json,
      status: 400,
      type: 'malformed-json',
    },
    {
      name: 'no body at all',
      method: 'POST',
      path: () => '/v1/groups',
      status: 400,
      type: 'validation',
      field: 'body',
    },
    {
      name: 'an array for an object',
      method: 'POST',
      path: () => '/v1/groups',
      body: [{ name: 'x' }],
      status: 400,
      type: 'validation',
      field: 'body',
    },
    {
      name: 'a wrong type',
      method: 'POST',
      path: () => '/v1/groups',
      body: { name: 42 },
      status: 400,
      type: 'validation',
      field: 'body.name',
    },
    {
      name: 'an unknown field',
      method: 'POST',
      path: () => '/v1/groups',
      body: { name: 'ok', colour: 'red' },
      status: 400,
      type: 'validation',
      field: 'body.colour',
    },
    {
      name: 'a NUL character',
      method: 'POST',
      path: () => '/v1/principals',
      body: { kind: 'user', name: 'a\u0000b' },
      status: 400,
      type: 'validation',
      field: 'body.name',
    },
    {
      name: 'a bad enum value',
      method: 'POST',
      path: () => '/v1/api-keys',
      body: { name: 'k', scopes: ['root'] },
      status: 400,
      type: 'validation',
      field: 'body.scopes.0',
    },
    {
      name: 'a repeated scope',
      method: 'POST',
      path: () => '/v1/api-keys',
      body: { name: 'k', scopes: ['read', 'read'] },
      status: 400,
      type: 'validation',
      field: 'body.scopes',
    },
    {
      name: 'an expiry in the past',
      method: 'POST',
      path: () => '/v1/api-keys',
      body: { name: 'k', scopes: ['read'], expires_at: '2001-01-01T00:00:00Z' },
      status: 400,
      type: 'validation',
      field: 'body.expires_at',
    },
    {
      name: 'two members at once',
      method: 'POST',
      path: () => `/v1/groups/${groupId}/members`,
      body: () => ({ principal_id: tenant.principal.id, api_key_id: tenant.api_key.id }),
      status: 400,
      type: 'validation',
      field: 'body',
    },
    {
      name: 'an oversized body',
      method: 'POST',
      path: () => '/v1/groups',
      body: { name: 'x', description: 'y'.repeat(8000) },
      status: 413,
      type: 'payload-too-large',
    },
    {
      name: 'a form body',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: 'name=x',
      headers: { 'content-type': 'text/csv' },
      status: 415,
      type: 'unsupported-media-type',
    },
    {
      name: 'a malformed id',
      method: 'GET',
      path: () => '/v1/groups/not-an-id',
      status: 400,
      type: 'validation',
      field: 'path.group_id',
    },
    {
      name: 'an id of another kind',
      method: 'DELETE',
      path: () => `/v1/groups/${tenant.principal.id}`,
      status: 400,
      type: 'validation',
      field: 'path.group_id',
    },
    {
      name: 'a well-formed id that does not exist',
      method: 'PATCH',
      path: () => '/v1/groups/grp_00000000000000000000000000',
      body: { description: 'x' },
      status: 404,
      type: 'not-found',
    },
    {
      name: 'limit of zero',
      method: 'GET',
      path: () => '/v1/groups?limit=0',
      status: 400,
      type: 'validation',
      field: 'query.limit',
    },
    {
      name: 'limit not a number',
      method: 'GET',
      path: () => '/v1/groups?limit=lots',
      status: 400,
      type: 'validation',
      field: 'query.limit',
    },
    {
      name: 'limit too large',
      method: 'GET',
      path: () => '/v1/groups?limit=100000',
      status: 400,
      type: 'validation',
      field: 'query.limit',
    },
    {
      name: 'a bad cursor',
      method: 'GET',
      path: () => '/v1/groups?after=zzz',
      status: 400,
      type: 'validation',
      field: 'query.after',
    },
    {
      name: 'an unknown query parameter',
      method: 'GET',
      path: () => '/v1/groups?page=2',
      status: 400,
      type: 'validation',
      field: 'query.page',
    },
    { name: 'an unknown route', method: 'GET', path: () => '/v1/nothing-here', status: 404, type: 'not-found' },
    {
      // Idempotency fingerprints the body: its depth is measured before anything recurses into it.
      name: 'an Idempotency-Key with a body nested 300 levels deep',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: `${'{"a":'.repeat(300)}1${'}'.repeat(300)}`,
      headers: { ...json, 'idempotency-key': 'deep-1' },
      status: 400,
      type: 'validation',
      field: 'body',
    },
    {
      name: 'an Idempotency-Key with an ndjson body on a JSON route',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: '{"name":"a"}\n{"name":"b"}\n',
      headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': 'ndjson-1' },
      status: 415,
      type: 'unsupported-media-type',
    },
    {
      name: 'an Idempotency-Key with an octet-stream body on a JSON route',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: 'raw bytes',
      headers: { 'content-type': 'application/octet-stream', 'idempotency-key': 'bytes-1' },
      status: 415,
      type: 'unsupported-media-type',
    },
  ];

  for (const testCase of cases) {
    it(`answers ${testCase.status} problem+json to ${testCase.name}, storing nothing`, async () => {
      const before = await snapshot();
      const result = await call(gateway, testCase.method, testCase.path(), {
        key: tenant.adminKey,
        ...(testCase.rawBody !== undefined ? { rawBody: testCase.rawBody } : {}),
        ...(testCase.body !== undefined
          ? { body: typeof testCase.body === 'function' ? testCase.body() : testCase.body }
          : {}),
        ...(testCase.headers ? { headers: testCase.headers } : {}),
      });
      assert.equal(result.status, testCase.status, JSON.stringify(result.body));
      assert.match(result.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(result.body.type, `/problems/${testCase.type}`);
      assert.equal(result.body.status, testCase.status);
      assert.ok(result.body.request_id, 'problem without request_id');
      if (testCase.field) {
        const fields = (result.body.errors ?? []).map((e: { field: string }) => e.field);
        assert.ok(fields.includes(testCase.field), `expected ${testCase.field} among ${JSON.stringify(fields)}`);
      }
      assert.equal(await snapshot(), before);
    });
  }

  it('answers 409 to a duplicate group name and keeps the first', async () => {
    const duplicate = await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'kept' } });
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.body.type, '/problems/conflict');
    assert.equal((await call(gateway, 'GET', `/v1/groups/${groupId}`, { key: tenant.adminKey })).status, 200);
  });
});
