import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { call, createTenant, startTestGateway, TEST_PLATFORM_KEY, type TestGateway } from './testing/test-gateway.js';

describe('Idempotency-Key', () => {
  let gateway: TestGateway;
  let tenant: Awaited<ReturnType<typeof createTenant>>;

  before(async () => {
    // Private addresses allowed: the webhook endpoint created below needs no DNS.
    gateway = await startTestGateway({ WEBHOOK_ALLOW_PRIVATE: 'true' });
    tenant = await createTenant(gateway);
  });
  after(() => gateway.close());

  const countGroups = async () =>
    (await call(gateway, 'GET', '/v1/groups?limit=100', { key: tenant.adminKey })).body.data.length;

  it('replays the first response for the same key and body, and stores once', async () => {
    const headers = { 'idempotency-key': 'create-research-1' };
    const first = await call(gateway, 'POST', '/v1/groups', {
      key: tenant.adminKey,
      body: { name: 'research' },
      headers,
    });
    assert.equal(first.status, 201);
    assert.equal(first.headers.get('idempotency-replay'), null);
    const again = await call(gateway, 'POST', '/v1/groups', {
      key: tenant.adminKey,
      body: { name: 'research' },
      headers,
    });
    assert.equal(again.status, 201);
    assert.equal(again.headers.get('idempotency-replay'), 'true');
    assert.deepEqual(again.body, first.body);
    assert.equal(await countGroups(), 1);
  });

  it('treats key order in the body as the same request', async () => {
    const headers = { 'idempotency-key': 'order-1' };
    const body = { name: 'ordered', description: 'd' };
    await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body, headers });
    const again = await call(gateway, 'POST', '/v1/groups', {
      key: tenant.adminKey,
      rawBody: '{"description":"d","name":"ordered"}',
      headers: { ...headers, 'content-type': 'application/json' },
    });
    assert.equal(again.headers.get('idempotency-replay'), 'true');
  });

  it('answers 422 to the same key with another body, storing nothing', async () => {
    const before = await countGroups();
    const headers = { 'idempotency-key': 'create-ops-1' };
    assert.equal(
      (await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'ops' }, headers })).status,
      201,
    );
    const other = await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'ops-2' }, headers });
    assert.equal(other.status, 422);
    assert.equal(other.body.type, '/problems/idempotency-mismatch');
    assert.equal(await countGroups(), before + 1);
  });

  it('answers 409 while the first request with the key is still running', async () => {
    // Hold the first request inside Postgres: a lock taken by a second connection blocks its insert.
    const owner = new pg.Client({ connectionString: process.env.TEST_OWNER_DATABASE_URL });
    await owner.connect();
    try {
      await owner.query('BEGIN');
      await owner.query('LOCK TABLE access_groups IN EXCLUSIVE MODE');
      const headers = { 'idempotency-key': 'slow-1' };
      const first = call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'slow' }, headers });
      await waitFor(async () => {
        // Statistics views are a snapshot per transaction: drop ours to see the request arrive.
        await owner.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await owner.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%access_groups%'",
        );
        return rows[0].n > 0;
      });
      const second = await call(gateway, 'POST', '/v1/groups', {
        key: tenant.adminKey,
        body: { name: 'slow' },
        headers,
      });
      assert.equal(second.status, 409);
      assert.equal(second.body.type, '/problems/idempotency-in-flight');
      await owner.query('COMMIT');
      assert.equal((await first).status, 201);
      const third = await call(gateway, 'POST', '/v1/groups', {
        key: tenant.adminKey,
        body: { name: 'slow' },
        headers,
      });
      assert.equal(third.headers.get('idempotency-replay'), 'true');
    } finally {
      await owner.query('ROLLBACK').catch(() => undefined);
      await owner.end();
    }
  });

  it('releases the key when the first request fails, so a corrected retry runs', async () => {
    const headers = { 'idempotency-key': 'fix-and-retry' };
    const bad = await call(gateway, 'POST', '/v1/groups', {
      key: tenant.adminKey,
      body: { name: 'Not Valid!' },
      headers,
    });
    assert.equal(bad.status, 400);
    const good = await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'valid' }, headers });
    assert.equal(good.status, 201);
  });

  it('keeps keys apart per API key', async () => {
    const other = await createTenant(gateway);
    const headers = { 'idempotency-key': 'shared-name' };
    const mine = await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'same' }, headers });
    const theirs = await call(gateway, 'POST', '/v1/groups', { key: other.adminKey, body: { name: 'same' }, headers });
    assert.equal(theirs.status, 201);
    assert.equal(theirs.headers.get('idempotency-replay'), null);
    assert.notEqual(theirs.body.id, mine.body.id);
  });

  describe('secrets shown once', () => {
    const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15');
    after(() => redis.quit());

    /** What the gateway keeps in Redis for this credential and Idempotency-Key, read directly. */
    const stored = async (credentialId: string, idempotencyKey: string) => {
      const hash = createHash('sha256').update(idempotencyKey).digest('hex');
      return redis.get(`idempotency:${credentialId}:${hash}`);
    };

    const creations = [
      { path: '/v1/api-keys', body: { name: 'replayed', scopes: ['read'] }, field: ['secret'], platform: false },
      { path: '/v1/webhooks', body: { url: 'http://127.0.0.1:9/hook' }, field: ['secret'], platform: false },
      { path: '/v1/tenants', body: { name: 'replayed tenant' }, field: ['api_key', 'secret'], platform: true },
    ];
    for (const { path, body, field, platform } of creations) {
      it(`POST ${path}: the secret is in the first response only; Redis and the replay hold null`, async () => {
        const key = platform ? TEST_PLATFORM_KEY : tenant.adminKey;
        const headers = { 'idempotency-key': `secret-${path}` };
        const secretOf = (response: any) => field.reduce((value, name) => value?.[name], response);
        const withSecretNull = (response: any) => {
          const copy = structuredClone(response);
          field.slice(0, -1).reduce((value, name) => value[name], copy)[field.at(-1)!] = null;
          return copy;
        };

        const first = await call(gateway, 'POST', path, { key, body, headers });
        assert.equal(first.status, 201);
        const secret = secretOf(first.body);
        assert.match(secret, /^(tsk|whsec)_/);

        const kept = await stored(platform ? 'platform' : tenant.api_key.id, headers['idempotency-key']);
        assert.ok(kept, 'the response is kept for replays');
        assert.ok(!kept.includes(secret.slice(6)), 'Redis never holds the secret');
        assert.deepEqual(JSON.parse(kept).body, withSecretNull(first.body));

        const again = await call(gateway, 'POST', path, { key, body, headers });
        assert.equal(again.status, 201);
        assert.equal(again.headers.get('idempotency-replay'), 'true');
        assert.deepEqual(again.body, withSecretNull(first.body));
      });
    }
  });

  it('rejects an unusable key with 400 naming the header', async () => {
    const result = await call(gateway, 'POST', '/v1/groups', {
      key: tenant.adminKey,
      body: { name: 'x' },
      headers: { 'idempotency-key': 'x'.repeat(300) },
    });
    assert.equal(result.status, 400);
    assert.equal(result.body.errors[0].field, 'header.Idempotency-Key');
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
