import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

/** The edges of HTTP itself answer as the API does: problem+json with the request's id. */
describe('HTTP edges', () => {
  let gateway: TestGateway;
  let tenant: Awaited<ReturnType<typeof createTenant>>;

  before(async () => {
    gateway = await startTestGateway();
    tenant = await createTenant(gateway);
  });
  after(() => gateway.close());

  const isProblem = (result: { status: number; headers: Headers; body: any }, status: number, type: string) => {
    assert.equal(result.status, status, JSON.stringify(result.body));
    assert.match(result.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(result.body.type, type);
    assert.equal(result.body.status, status);
    assert.match(result.headers.get('x-request-id') ?? '', /^req_/);
    assert.equal(result.body.request_id, result.headers.get('x-request-id'));
  };

  it('answers a path too long with 414 problem+json, without echoing the path', async () => {
    const id = `grp_${'a'.repeat(2000)}`;
    const result = await call(gateway, 'GET', `/v1/groups/${id}`, { key: tenant.adminKey });
    isProblem(result, 414, '/problems/uri-too-long');
    assert.ok(!JSON.stringify(result.body).includes('a'.repeat(200)), 'the path is not echoed');
  });

  it('answers a method a route does not have with 405 and Allow', async () => {
    const result = await call(gateway, 'PATCH', '/v1/groups', { key: tenant.adminKey, body: {} });
    isProblem(result, 405, '/problems/method-not-allowed');
    assert.deepEqual(
      result.headers
        .get('allow')
        ?.split(',')
        .map((m) => m.trim())
        .sort(),
      ['GET', 'HEAD', 'POST'],
    );
    const missing = await call(gateway, 'GET', '/v1/no-such-collection', { key: tenant.adminKey });
    isProblem(missing, 404, '/problems/not-found');
  });

  it('tells malformed JSON apart from a body with prototype-pollution keys, and stores neither', async () => {
    const malformed = await call(gateway, 'POST', '/v1/groups', {
      key: tenant.adminKey,
      rawBody: '{"name": "ok"',
      headers: { 'content-type': 'application/json' },
    });
    isProblem(malformed, 400, '/problems/malformed-json');
    for (const key of ['__proto__', 'constructor']) {
      const polluted = await call(gateway, 'POST', '/v1/groups', {
        key: tenant.adminKey,
        rawBody: `{"name": "polluted", "${key}": {"prototype": {"admin": true}, "admin": true}}`,
        headers: { 'content-type': 'application/json' },
      });
      isProblem(polluted, 400, '/problems/forbidden-json-key');
      assert.match(polluted.body.detail, new RegExp(key === '__proto__' ? '__proto__' : 'constructor'));
    }
    const groups = await call(gateway, 'GET', '/v1/groups?limit=100', { key: tenant.adminKey });
    assert.ok(!groups.body.data.some((g: { name: string }) => g.name === 'polluted'));
  });

  it('answers a tenant key on a platform route with 403, an unknown key with 401', async () => {
    const tenantKey = await call(gateway, 'POST', '/v1/tenants', { key: tenant.adminKey, body: { name: 'nope' } });
    isProblem(tenantKey, 403, '/problems/forbidden');
    const unknown = await call(gateway, 'POST', '/v1/tenants', { key: 'tsk_not-a-key', body: { name: 'nope' } });
    isProblem(unknown, 401, '/problems/unauthenticated');
  });

  it("adds OpenAI's error object to problems on the OpenAI-compatible routes, and only there", async () => {
    const invalid = await call(gateway, 'POST', '/v1/completions', {
      key: tenant.adminKey,
      body: { model: 'tessera-demo', prompt: 'x', max_tokens: -1 },
    });
    isProblem(invalid, 400, '/problems/validation');
    assert.deepEqual(invalid.body.error, {
      message: invalid.body.detail ?? invalid.body.title,
      type: 'invalid_request_error',
      param: 'max_tokens',
      code: 'validation',
    });
    const unauthenticated = await call(gateway, 'GET', '/v1/models');
    assert.equal(unauthenticated.body.error.type, 'authentication_error');
    assert.equal(unauthenticated.body.error.code, 'unauthenticated');
    const elsewhere = await call(gateway, 'GET', '/v1/groups');
    assert.equal(elsewhere.body.error, undefined);
  });
});
