import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTesseraClient, paginate, shownSecret, TesseraProblemError, unwrap, type TesseraApi } from '@tessera/sdk';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';

const PLATFORM_KEY = 'e2e-platform-admin-key-0123456789';

describe('the gateway as a process, driven through the SDK', () => {
  let gateway: GatewayProcess;
  let platform: TesseraApi;

  before(async () => {
    gateway = await startGatewayProcess({
      DATABASE_URL: requiredEnv('TEST_DATABASE_URL'),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      PLATFORM_ADMIN_KEY: PLATFORM_KEY,
    });
    platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
  });
  after(async () => {
    assert.equal(await gateway.stop(), 0, 'the gateway did not shut down cleanly on SIGTERM');
  });

  it('onboards a tenant and manages its keys, groups and members', async () => {
    const created = await unwrap(platform.POST('/v1/tenants', { body: { name: 'Acme Research' } }));
    const admin = createTesseraClient({ baseUrl: gateway.url, apiKey: shownSecret(created.api_key) });

    const tenant = await unwrap(admin.GET('/v1/tenant'));
    assert.equal(tenant.name, 'Acme Research');

    const analyst = await unwrap(
      admin.POST('/v1/principals', { body: { kind: 'user', name: 'Ada', email: 'ada@example.com' } }),
    );
    const key = await unwrap(
      admin.POST('/v1/api-keys', { body: { name: 'notebook', scopes: ['read', 'infer'], principal_id: analyst.id } }),
    );
    const groupNames = ['legal', 'finance', 'research', 'support', 'sales'];
    const groups = [];
    for (const name of groupNames) groups.push(await unwrap(admin.POST('/v1/groups', { body: { name } })));
    await unwrap(
      admin.POST('/v1/groups/{group_id}/members', {
        params: { path: { group_id: groups[0]!.id } },
        body: { principal_id: analyst.id },
      }),
    );

    const listed: string[] = [];
    for await (const group of paginate((after) =>
      admin.GET('/v1/groups', { params: { query: { limit: 2, ...(after ? { after } : {}) } } }),
    )) {
      listed.push(group.name);
    }
    assert.deepEqual(listed, groupNames);

    const reader = createTesseraClient({ baseUrl: gateway.url, apiKey: shownSecret(key) });
    const me = await unwrap(reader.GET('/v1/me'));
    assert.deepEqual(me.group_ids, [groups[0]!.id]);
    assert.deepEqual(me.scopes, ['read', 'infer']);
  });

  it('turns API errors into typed problems', async () => {
    const created = await unwrap(platform.POST('/v1/tenants', { body: { name: 'Errors Inc' } }));
    const admin = createTesseraClient({ baseUrl: gateway.url, apiKey: shownSecret(created.api_key) });

    const notFound = await admin
      .GET('/v1/groups/{group_id}', { params: { path: { group_id: 'grp_00000000000000000000000000' } } })
      .catch((e: unknown) => e);
    assert.ok(notFound instanceof TesseraProblemError);
    assert.equal(notFound.status, 404);
    assert.equal(notFound.type, '/problems/not-found');
    assert.ok(notFound.requestId);

    const invalid = await admin.POST('/v1/groups', { body: { name: 'Has Spaces' } }).catch((e: unknown) => e);
    assert.ok(invalid instanceof TesseraProblemError);
    assert.equal(invalid.fieldErrors[0]?.field, 'body.name');
  });

  it('retries a POST safely with the same Idempotency-Key', async () => {
    const created = await unwrap(platform.POST('/v1/tenants', { body: { name: 'Retry Ltd' } }));
    const admin = createTesseraClient({ baseUrl: gateway.url, apiKey: shownSecret(created.api_key) });
    const headers = { 'Idempotency-Key': 'onboarding-step-3' };
    const first = await admin.POST('/v1/groups', { body: { name: 'once' }, params: { header: headers } });
    const second = await admin.POST('/v1/groups', { body: { name: 'once' }, params: { header: headers } });
    assert.equal(second.response.headers.get('idempotency-replay'), 'true');
    assert.equal(second.data?.id, first.data?.id);
    const all = await unwrap(admin.GET('/v1/groups'));
    assert.equal(all.data.length, 1);
  });

  it('revokes a key for good', async () => {
    const created = await unwrap(platform.POST('/v1/tenants', { body: { name: 'Revoke plc' } }));
    const admin = createTesseraClient({ baseUrl: gateway.url, apiKey: shownSecret(created.api_key) });
    const key = await unwrap(admin.POST('/v1/api-keys', { body: { name: 'temp', scopes: ['read'] } }));
    await unwrap(admin.POST('/v1/api-keys/{api_key_id}/revoke', { params: { path: { api_key_id: key.id } } }));
    const revoked = createTesseraClient({ baseUrl: gateway.url, apiKey: shownSecret(key) });
    const error = await revoked.GET('/v1/groups').catch((e: unknown) => e);
    assert.ok(error instanceof TesseraProblemError);
    assert.equal(error.status, 401);
  });
});

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}
