import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, createTenant, startTestGateway, TEST_PLATFORM_KEY, type TestGateway } from './testing/test-gateway.js';

describe('authentication and scopes', () => {
  let gateway: TestGateway;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  const keys: Record<string, string> = {};

  before(async () => {
    gateway = await startTestGateway();
    tenant = await createTenant(gateway);
    for (const scope of ['read', 'write', 'infer'] as const) {
      const created = await call(gateway, 'POST', '/v1/api-keys', {
        key: tenant.adminKey,
        body: { name: scope, scopes: [scope] },
      });
      assert.equal(created.status, 201);
      assert.match(created.body.secret, /^tsk_/);
      keys[scope] = created.body.secret;
    }
  });
  after(() => gateway.close());

  it('refuses requests without a valid key with 401 and WWW-Authenticate', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Basic abc' },
      { authorization: 'Bearer tsk_nope' },
    ];
    for (const headers of attempts) {
      const result = await call(gateway, 'GET', '/v1/groups', { headers });
      assert.equal(result.status, 401);
      assert.equal(result.body.type, '/problems/unauthenticated');
      assert.equal(result.headers.get('www-authenticate'), 'Bearer');
      assert.match(result.headers.get('content-type') ?? '', /application\/problem\+json/);
    }
    const wellFormedUnknown = 'tsk_' + 'A'.repeat(43);
    assert.equal((await call(gateway, 'GET', '/v1/groups', { key: wellFormedUnknown })).status, 401);
  });

  it('lets read keys read, not write', async () => {
    assert.equal((await call(gateway, 'GET', '/v1/groups', { key: keys.read })).status, 200);
    const write = await call(gateway, 'POST', '/v1/groups', { key: keys.read, body: { name: 'nope' } });
    assert.equal(write.status, 403);
    assert.equal(write.body.type, '/problems/forbidden');
  });

  it('lets write keys read but keeps administration to admin keys', async () => {
    assert.equal((await call(gateway, 'GET', '/v1/principals', { key: keys.write })).status, 200);
    assert.equal((await call(gateway, 'GET', '/v1/api-keys', { key: keys.write })).status, 403);
    assert.equal(
      (await call(gateway, 'POST', '/v1/api-keys', { key: keys.write, body: { name: 'x', scopes: ['admin'] } })).status,
      403,
    );
  });

  it('lets infer keys only say who they are', async () => {
    assert.equal((await call(gateway, 'GET', '/v1/groups', { key: keys.infer })).status, 403);
    const me = await call(gateway, 'GET', '/v1/me', { key: keys.infer });
    assert.equal(me.status, 200);
    assert.deepEqual(me.body.scopes, ['infer']);
    assert.equal(me.body.tenant_id, tenant.tenant.id);
  });

  it('keeps platform routes and tenant routes apart', async () => {
    assert.equal(
      (await call(gateway, 'POST', '/v1/tenants', { key: tenant.adminKey, body: { name: 'x' } })).status,
      403,
    );
    assert.equal((await call(gateway, 'GET', '/v1/groups', { key: TEST_PLATFORM_KEY })).status, 401);
    const other = await call(gateway, 'GET', `/v1/tenants/${tenant.tenant.id}`, { key: TEST_PLATFORM_KEY });
    assert.equal(other.status, 200);
    assert.equal(other.body.name, tenant.tenant.name);
  });

  it('stops a revoked key at its next request and records when keys are used', async () => {
    const created = await call(gateway, 'POST', '/v1/api-keys', {
      key: tenant.adminKey,
      body: { name: 'short-lived', scopes: ['read'] },
    });
    assert.equal((await call(gateway, 'GET', '/v1/groups', { key: created.body.secret })).status, 200);
    const revoked = await call(gateway, 'POST', `/v1/api-keys/${created.body.id}/revoke`, { key: tenant.adminKey });
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.revoked_at);
    const refused = await call(gateway, 'GET', '/v1/groups', { key: created.body.secret });
    assert.equal(refused.status, 401);
    assert.match(refused.body.detail, /revoked/);
    // last_used_at is written beside the request, not inside it: give it a moment.
    let listed = await call(gateway, 'GET', `/v1/api-keys/${created.body.id}`, { key: tenant.adminKey });
    for (let i = 0; i < 20 && !listed.body.last_used_at; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      listed = await call(gateway, 'GET', `/v1/api-keys/${created.body.id}`, { key: tenant.adminKey });
    }
    assert.ok(listed.body.last_used_at, 'last_used_at was not recorded');
    assert.equal(listed.body.secret, undefined, 'a stored key must never show its secret again');
  });

  it('gives a key the groups of its principal and its own', async () => {
    const group = await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'finance' } });
    const direct = await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'direct' } });
    const principal = await call(gateway, 'POST', '/v1/principals', {
      key: tenant.adminKey,
      body: { kind: 'user', name: 'ana' },
    });
    const key = await call(gateway, 'POST', '/v1/api-keys', {
      key: tenant.adminKey,
      body: { name: 'ana', scopes: ['infer'], principal_id: principal.body.id },
    });
    await call(gateway, 'POST', `/v1/groups/${group.body.id}/members`, {
      key: tenant.adminKey,
      body: { principal_id: principal.body.id },
    });
    await call(gateway, 'POST', `/v1/groups/${direct.body.id}/members`, {
      key: tenant.adminKey,
      body: { api_key_id: key.body.id },
    });
    const me = await call(gateway, 'GET', '/v1/me', { key: key.body.secret });
    assert.deepEqual([...me.body.group_ids].sort(), [group.body.id, direct.body.id].sort());
    const duplicate = await call(gateway, 'POST', `/v1/groups/${group.body.id}/members`, {
      key: tenant.adminKey,
      body: { principal_id: principal.body.id },
    });
    assert.equal(duplicate.status, 409);
  });
});
