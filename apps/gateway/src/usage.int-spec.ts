import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { redisConnection, trainQueue } from '@tessera/queue';
import pg from 'pg';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

describe('usage, queue depth and the served dashboard', () => {
  const prefix = `int-usage-${process.pid}`;
  const queue = trainQueue(redisConnection(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15'), prefix);
  const owner = new pg.Client({ connectionString: process.env.TEST_OWNER_DATABASE_URL });
  let gateway: TestGateway;
  let dataDir: string;
  let dashboardDir: string;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let other: Awaited<ReturnType<typeof createTenant>>;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-usage-'));
    dashboardDir = path.join(dataDir, 'dashboard');
    await mkdir(path.join(dashboardDir, 'assets'), { recursive: true });
    await writeFile(
      path.join(dashboardDir, 'index.html'),
      '<!doctype html><title>Tessera</title><script src="./assets/app-1.js"></script>',
    );
    await writeFile(path.join(dashboardDir, 'assets', 'app-1.js'), 'console.log("dashboard")');
    gateway = await startTestGateway({ DATA_DIR: dataDir, QUEUE_PREFIX: prefix, DASHBOARD_DIR: dashboardDir });
    tenant = await createTenant(gateway);
    other = await createTenant(gateway);
    await owner.connect();
  });
  after(async () => {
    await owner.end();
    await queue.obliterate({ force: true });
    await queue.close();
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Usage as inference writes it: one row per request, under its heaviest adapter. */
  async function recordUsage(
    tenantId: string,
    adapterId: string | null,
    promptTokens: number,
    completionTokens: number,
    at = new Date(),
  ) {
    await owner.query(
      'INSERT INTO usage_records (id, tenant_id, adapter_id, prompt_tokens, completion_tokens, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [`use_${Math.random().toString(36).slice(2)}`, tenantId, adapterId, promptTokens, completionTokens, at],
    );
  }

  it('sums requests and tokens per adapter in the window, most used first, and only the caller tenant', async () => {
    const adapter = await call(gateway, 'POST', '/v1/adapters', {
      key: tenant.adminKey,
      body: { name: 'legal', base_model: 'tessera-demo' },
    });
    assert.equal(adapter.status, 201, JSON.stringify(adapter.body));
    const adapterId = adapter.body.id;
    await recordUsage(tenant.tenant.id, adapterId, 10, 5);
    await recordUsage(tenant.tenant.id, adapterId, 7, 3);
    await recordUsage(tenant.tenant.id, null, 4, 1);
    await recordUsage(tenant.tenant.id, adapterId, 100, 100, new Date(Date.now() - 30 * 24 * 3600 * 1000));
    await recordUsage(other.tenant.id, null, 1000, 1000);

    const usage = await call(gateway, 'GET', '/v1/usage', { key: tenant.adminKey });
    assert.equal(usage.status, 200, JSON.stringify(usage.body));
    assert.deepEqual(usage.body.data, [
      { adapter_id: adapterId, adapter_name: 'legal', requests: 2, prompt_tokens: 17, completion_tokens: 8 },
      { adapter_id: null, adapter_name: null, requests: 1, prompt_tokens: 4, completion_tokens: 1 },
    ]);
    const month = await call(
      gateway,
      'GET',
      `/v1/usage?since=${encodeURIComponent(new Date(Date.now() - 40 * 24 * 3600 * 1000).toISOString())}`,
      { key: tenant.adminKey },
    );
    assert.equal(month.body.data[0].requests, 3, 'the older request is inside a 40-day window');
    assert.deepEqual((await call(gateway, 'GET', '/v1/usage', { key: other.adminKey })).body.data, [
      { adapter_id: null, adapter_name: null, requests: 1, prompt_tokens: 1000, completion_tokens: 1000 },
    ]);
  });

  it('refuses a window that ends before it starts, or a date that is not one, naming the field', async () => {
    const backwards = await call(gateway, 'GET', '/v1/usage?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z', {
      key: tenant.adminKey,
    });
    assert.equal(backwards.status, 400);
    assert.equal(backwards.body.errors[0].field, 'query.since');
    const notADate = await call(gateway, 'GET', '/v1/usage?since=yesterday', { key: tenant.adminKey });
    assert.equal(notADate.status, 400);
    assert.equal(notADate.body.errors[0].field, 'query.since');
  });

  it("counts the queue's waiting jobs and the tenant's own queued jobs", async () => {
    const before = await call(gateway, 'GET', '/v1/queues', { key: tenant.adminKey });
    assert.equal(before.status, 200, JSON.stringify(before.body));
    assert.deepEqual(before.body.jobs, { queued: 0, running: 0 });
    const dataset = await call(gateway, 'POST', '/v1/datasets', {
      key: tenant.adminKey,
      body: { name: 'd', format: 'text' },
    });
    await call(gateway, 'PUT', `/v1/datasets/${dataset.body.id}/content`, {
      key: tenant.adminKey,
      rawBody: '{"text":"hello there"}\n',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    const job = await call(gateway, 'POST', '/v1/fine-tunes', {
      key: tenant.adminKey,
      body: { base_model: 'tessera-demo', dataset_id: dataset.body.id, adapter_name: 'queued-one' },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));

    const after = await call(gateway, 'GET', '/v1/queues', { key: tenant.adminKey });
    assert.deepEqual(after.body.jobs, { queued: 1, running: 0 });
    const train = after.body.data.find((q: any) => q.name === 'train');
    assert.equal(
      train.waiting,
      before.body.data.find((q: any) => q.name === 'train').waiting + 1,
      'no worker runs here, so the job waits',
    );
    assert.deepEqual((await call(gateway, 'GET', '/v1/queues', { key: other.adminKey })).body.jobs, {
      queued: 0,
      running: 0,
    });
  });

  it('serves the dashboard at / without a key, and unknown paths still get the API problem', async () => {
    const index = await call<string>(gateway, 'GET', '/');
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /text\/html/);
    assert.match(index.body, /<title>Tessera<\/title>/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(
      index.headers.get('content-security-policy') ?? '',
      /script-src 'self';.*frame-ancestors 'none'/,
      'only its own scripts, never framed',
    );
    assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
    const asset = await call<string>(gateway, 'GET', '/assets/app-1.js');
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    const missing = await call(gateway, 'GET', '/assets/nope.js');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.type, '/problems/not-found');
    assert.equal((await call(gateway, 'GET', '/v1/usage')).status, 401, 'the API still needs a key');
  });
});
