import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

/** Two gateway replicas over one Postgres and Redis: a key change made through one reaches both. */
describe('the API key cache across gateway replicas', () => {
  const owner = new pg.Client({ connectionString: process.env.TEST_OWNER_DATABASE_URL });
  let a: TestGateway;
  let b: TestGateway;

  before(async () => {
    [a, b] = await Promise.all([startTestGateway(), startTestGateway()]);
    await owner.connect();
  });
  after(async () => {
    await owner.end();
    await Promise.all([a.close(), b.close()]);
  });

  /** A key of a tenant of its own: one test's changes drop only its own tenant's keys. */
  const newKey = async () => {
    const tenant = await createTenant(a);
    const created = await call(a, 'POST', '/v1/api-keys', {
      key: tenant.adminKey,
      body: { name: `k-${Math.random()}`, scopes: ['read'] },
    });
    assert.equal(created.status, 201);
    return { ...(created.body as { id: string; secret: string }), adminKey: tenant.adminKey };
  };

  /** Milliseconds until `check` holds at replica b, polling every 10 ms; fails past 1 s. */
  const within1s = async (check: () => Promise<boolean>) => {
    const started = performance.now();
    while (!(await check())) {
      assert.ok(performance.now() - started < 1000, 'not within 1 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return performance.now() - started;
  };

  it('serves a key from memory, and a revoke through one replica is refused by the other within 1 s', async () => {
    const key = await newKey();
    assert.equal((await call(a, 'GET', '/v1/me', { key: key.secret })).status, 200);
    // Revoked behind the API's back (no announcement), replica b still takes the key once it has it in
    // memory: the cache is real. (A replica caches from the moment its Redis subscription is up, so the
    // first reads may go to Postgres: up to 5 tries.)
    let fromMemory = false;
    for (let attempt = 0; attempt < 5 && !fromMemory; attempt++) {
      assert.equal((await call(b, 'GET', '/v1/me', { key: key.secret })).status, 200);
      await owner.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [key.id]);
      fromMemory = (await call(b, 'GET', '/v1/me', { key: key.secret })).status === 200;
      await owner.query('UPDATE api_keys SET revoked_at = NULL WHERE id = $1', [key.id]);
      if (!fromMemory) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(fromMemory, 'b answered from its cache');

    const revoked = await call(a, 'POST', `/v1/api-keys/${key.id}/revoke`, { key: key.adminKey });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal((await call(a, 'GET', '/v1/me', { key: key.secret })).status, 401, 'a refuses it at once');
    const ms = await within1s(async () => (await call(b, 'GET', '/v1/me', { key: key.secret })).status === 401);
    assert.ok(ms < 1000, `b refused it after ${ms.toFixed(0)} ms`);
  });

  it('a key added to or removed from a group uses exactly its new groups at every replica within 1 s', async () => {
    const key = await newKey();
    const group = await call(a, 'POST', '/v1/groups', { key: key.adminKey, body: { name: `g-${Math.random()}` } });
    const groupsAt = async (replica: TestGateway) =>
      ((await call(replica, 'GET', '/v1/me', { key: key.secret })).body as { group_ids: string[] }).group_ids;
    assert.deepEqual(await groupsAt(b), []);
    const member = await call(a, 'POST', `/v1/groups/${group.body.id}/members`, {
      key: key.adminKey,
      body: { api_key_id: key.id },
    });
    assert.equal(member.status, 201, JSON.stringify(member.body));
    await within1s(async () => (await groupsAt(b)).includes(group.body.id));
    const removed = await call(a, 'DELETE', `/v1/groups/${group.body.id}/members/${member.body.id}`, {
      key: key.adminKey,
    });
    assert.equal(removed.status, 204);
    await within1s(async () => (await groupsAt(b)).length === 0);
  });
});
