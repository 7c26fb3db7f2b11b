import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { recordBlobSweep } from '@tessera/queue';
import { Redis } from 'ioredis';
import { call, createTenant, startTestGateway, type TestGateway } from '../testing/test-gateway.js';

describe('operations endpoints', () => {
  let gateway: TestGateway;

  before(async () => {
    gateway = await startTestGateway();
  });
  after(() => gateway.close());

  it('reports liveness and readiness of Postgres and Redis', async () => {
    assert.deepEqual((await call(gateway, 'GET', '/healthz')).body, { status: 'ok' });
    const ready = await call(gateway, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.postgres.ok, true);
    assert.equal(ready.body.checks.redis.ok, true);
  });

  it('reports not ready, and answers 503 rather than 500, when Redis is unreachable', async () => {
    const tenant = await createTenant(gateway);
    const broken = await startTestGateway({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const ready = await call(broken, 'GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.checks.redis.ok, false);
      assert.equal(ready.body.checks.postgres.ok, true);
      // Public: it says what is down, never where (no host, port or driver message).
      assert.ok(
        ['unreachable', 'no answer in 2000 ms'].includes(ready.body.checks.redis.error),
        ready.body.checks.redis.error,
      );
      assert.ok(!JSON.stringify(ready.body).includes('127.0.0.1'));
      const request = await call(broken, 'GET', '/v1/groups', { key: tenant.adminKey });
      assert.equal(request.status, 503);
      assert.equal(request.body.type, '/problems/unavailable');
      assert.equal(request.headers.get('retry-after'), '5');
    } finally {
      await broken.close();
    }
  });

  it('counts requests by route template in Prometheus format', async () => {
    await call(gateway, 'GET', '/healthz');
    const metrics = await call<string>(gateway, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /tessera_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    assert.match(metrics.body, /tessera_http_request_duration_seconds_bucket/);
  });

  it("shows the Postgres pool's connections, with none left checked out once requests end", async () => {
    await call(gateway, 'GET', '/readyz');
    const metrics = (await call<string>(gateway, 'GET', '/metrics')).body;
    const count = (state: string) =>
      Number(new RegExp(`^tessera_db_pool_connections\\{state="${state}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
    assert.ok(count('total') >= 1, metrics);
    assert.equal(count('idle'), count('total'));
    assert.equal(count('waiting'), 0);
  });

  it("shows the worker's last blob sweep as gauges, read from Redis at scrape time", async () => {
    const prefix = `int-health-${process.pid}`;
    const swept = await startTestGateway({ QUEUE_PREFIX: prefix });
    const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15');
    try {
      const before = await call<string>(swept, 'GET', '/metrics');
      assert.doesNotMatch(before.body, /tessera_blob_sweep/, 'absent until a sweep ran');
      await recordBlobSweep(redis, prefix, {
        finishedAt: new Date(1_700_000_000_500),
        leftoversFound: 3,
        leftoversRemoved: 2,
        unreferencedFound: 5,
        unreferencedRemoved: 4,
        bytesReclaimed: 123_456,
        failedTenants: 1,
      });
      const after = (await call<string>(swept, 'GET', '/metrics')).body;
      for (const line of [
        'tessera_blob_sweep_last_run_timestamp_seconds 1700000000.5',
        'tessera_blob_sweep_leftovers_found 3',
        'tessera_blob_sweep_leftovers_removed 2',
        'tessera_blob_sweep_unreferenced_found 5',
        'tessera_blob_sweep_unreferenced_removed 4',
        'tessera_blob_sweep_reclaimed_bytes 123456',
        'tessera_blob_sweep_failed_tenants 1',
      ])
        assert.ok(after.split('\n').includes(line), line);
      assert.match(after, /# TYPE tessera_blob_sweep_leftovers_found gauge/);
    } finally {
      await redis.del(`${prefix}:blob-sweep`);
      await redis.quit();
      await swept.close();
    }
  });

  it('echoes a sane X-Request-Id and makes one otherwise', async () => {
    const given = await call(gateway, 'GET', '/healthz', { headers: { 'x-request-id': 'trace-abc.123' } });
    assert.equal(given.headers.get('x-request-id'), 'trace-abc.123');
    const made = await call(gateway, 'GET', '/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
    assert.match(made.headers.get('x-request-id') ?? '', /^req_[0-9a-f-]{36}$/);
  });
});
