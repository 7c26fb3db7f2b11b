import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Database } from '@tessera/db';
import pg from 'pg';
import type { Caller } from '../common/caller.js';
import { call, createTenant, startTestGateway, type TestGateway } from '../testing/test-gateway.js';
import { peftFiles, uploadAdapter } from '../testing/tenant-fixtures.js';
import { RoutingCache } from './routing-cache.js';

/** Resolutions are cached, and every kind of change retires them at once, whoever makes it. */
describe('the routing cache', () => {
  const owner = new pg.Client({ connectionString: process.env.TEST_OWNER_DATABASE_URL });
  let gateway: TestGateway;
  let database: Database;
  let cache: RoutingCache;
  let adminKey: string;
  let tenantId: string;

  const caller = (groupIds: string[] = []): Caller => ({
    tenantId,
    apiKeyId: 'key_test',
    principalId: 'prn_test',
    scopes: ['read'],
    groupIds,
  });
  const resolve = (model: string, who = caller()) =>
    database.readAsTenant(who, (tx) => cache.resolve(tx, who, model, undefined));
  const versionOf = async (model: string) => (await resolve(model)).adapters[0]!.version;

  before(async () => {
    gateway = await startTestGateway();
    database = gateway.app.get(Database);
    cache = gateway.app.get(RoutingCache);
    const tenant = await createTenant(gateway);
    adminKey = tenant.adminKey;
    tenantId = tenant.tenant.id;
    await owner.connect();
  });
  after(async () => {
    await owner.end();
    await gateway.close();
  });

  it('answers a repeated resolution from memory until the adapter changes through the API', async () => {
    const id = await uploadAdapter(gateway, adminKey, 'cached', 11);
    const first = await resolve('cached');
    assert.equal(await resolve('cached'), first, 'the second resolution is the cached object');
    assert.equal(first.adapters[0]!.adapterId, id);

    const files = peftFiles(576, 12);
    for (const [file, options] of [
      ['adapter_config.json', { body: files.config }],
      [
        'adapter_model.safetensors',
        { rawBody: files.weights, headers: { 'content-type': 'application/octet-stream' } },
      ],
    ] as const) {
      const put = await call(gateway, 'PUT', `/v1/adapters/${id}/versions/2/${file}`, { key: adminKey, ...options });
      assert.ok(put.status < 300, JSON.stringify(put.body));
    }
    assert.equal(await versionOf('cached'), 2, 'a new ready version routes at once');

    assert.equal((await call(gateway, 'POST', `/v1/adapters/${id}/archive`, { key: adminKey })).status, 200);
    await assert.rejects(resolve('cached'), /No model, adapter or composition named cached/);
  });

  it('retires cached resolutions on a change made outside the gateway, as a worker makes them', async () => {
    const id = await uploadAdapter(gateway, adminKey, 'behind-the-api', 13);
    const files = peftFiles(576, 14);
    await call(gateway, 'PUT', `/v1/adapters/${id}/versions/2/adapter_config.json`, {
      key: adminKey,
      body: files.config,
    });
    await call(gateway, 'PUT', `/v1/adapters/${id}/versions/2/adapter_model.safetensors`, {
      key: adminKey,
      rawBody: files.weights,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(await versionOf('behind-the-api'), 2);
    // What a deletion's retraining does to a version it supersedes: plain SQL, no gateway involved.
    await owner.query(`UPDATE adapter_versions SET status = 'stale' WHERE adapter_id = $1 AND version = 2`, [id]);
    assert.equal(await versionOf('behind-the-api'), 1);
  });

  it("retires every tenant's resolutions when a platform base model changes", async () => {
    await uploadAdapter(gateway, adminKey, 'platform-watch', 16);
    const first = await resolve('platform-watch');
    assert.equal(await resolve('platform-watch'), first);
    await owner.query(`UPDATE base_models SET name = name WHERE tenant_id IS NULL AND name = 'tessera-demo'`);
    const after = await resolve('platform-watch');
    assert.notEqual(after, first, 'resolved again after the platform model changed');
    assert.deepEqual(after, first);
  });

  it("never serves one caller's resolution to a caller outside the adapter's group", async () => {
    const group = await call<{ id: string }>(gateway, 'POST', '/v1/groups', { key: adminKey, body: { name: 'vault' } });
    await uploadAdapter(gateway, adminKey, 'grouped', 15, group.body.id);
    const member = caller([group.body.id]);
    assert.equal((await resolve('grouped', member)).adapters[0]!.name, 'grouped');
    assert.equal((await resolve('grouped', member)).adapters[0]!.name, 'grouped'); // now cached
    await assert.rejects(resolve('grouped', caller()), /No model, adapter or composition named grouped/);
  });
});
