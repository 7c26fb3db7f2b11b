import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { redisConnection, trainQueue } from '@tessera/queue';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

describe('fine-tunes (gateway side: no worker runs here)', () => {
  const prefix = `int-${process.pid}`;
  const queue = trainQueue(redisConnection(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15'), prefix);
  let gateway: TestGateway;
  let dataDir: string;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let datasetId: string;

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    call(gateway, 'POST', '/v1/fine-tunes', { key: tenant.adminKey, body, headers });
  const valid = (over: Record<string, unknown> = {}) => ({
    base_model: 'tessera-demo',
    dataset_id: datasetId,
    adapter_name: 'support-bot',
    ...over,
  });

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-ft-'));
    gateway = await startTestGateway({ DATA_DIR: dataDir, QUEUE_PREFIX: prefix });
    tenant = await createTenant(gateway);
    datasetId = (
      await call(gateway, 'POST', '/v1/datasets', { key: tenant.adminKey, body: { name: 'd', format: 'text' } })
    ).body.id;
  });
  after(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses a dataset without content, an unknown base model, and hyperparameters the model cannot take', async () => {
    const notReady = await post(valid());
    assert.equal(notReady.status, 409);
    assert.match(notReady.body.detail, /has no content yet/);
    const uploaded = await call(gateway, 'PUT', `/v1/datasets/${datasetId}/content`, {
      key: tenant.adminKey,
      rawBody: '{"text":"hello there"}\n',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    assert.equal(uploaded.status, 200);

    assert.equal((await post(valid({ base_model: 'no-such-model' }))).status, 404);
    const tooLong = await post(
      valid({ hyperparameters: { max_sequence_length: 512, target_modules: ['self_attn.q_proj'] } }),
    );
    assert.equal(tooLong.status, 400);
    assert.deepEqual(tooLong.body.errors.map((e: any) => e.field).sort(), [
      'body.hyperparameters.max_sequence_length',
      'body.hyperparameters.target_modules.0',
    ]);
    const badRank = await post(valid({ hyperparameters: { rank: 0 } }));
    assert.equal(badRank.status, 400);
    assert.equal(badRank.body.errors[0].field, 'body.hyperparameters.rank');
    const badOptimizer = await post(
      valid({
        hyperparameters: { adam_beta1: 1, adam_beta2: -0.5, adam_epsilon: 0, min_lr_rate: 2, packing: 'interleaved' },
      }),
    );
    assert.equal(badOptimizer.status, 400);
    assert.deepEqual(badOptimizer.body.errors.map((e: any) => e.field).sort(), [
      'body.hyperparameters.adam_beta1',
      'body.hyperparameters.adam_beta2',
      'body.hyperparameters.adam_epsilon',
      'body.hyperparameters.min_lr_rate',
      'body.hyperparameters.packing',
    ]);
    // Nothing was created by the refused requests.
    assert.deepEqual((await call(gateway, 'GET', '/v1/fine-tunes', { key: tenant.adminKey })).body.data, []);
    assert.deepEqual((await call(gateway, 'GET', '/v1/adapters', { key: tenant.adminKey })).body.data, []);
  });

  it('queues one job for the same POST sent twice with one Idempotency-Key, with its adapter version', async () => {
    const headers = { 'idempotency-key': 'ft-once' };
    const first = await post(valid(), headers);
    const second = await post(valid(), headers);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.deepEqual(second.body, first.body);
    assert.equal(first.body.status, 'queued');
    assert.equal(first.body.hyperparameters.rank, 8, 'defaults filled in');
    // Stored with the job, so a resumed attempt trains with exactly these.
    const { min_lr_rate, adam_beta1, adam_beta2, adam_epsilon, packing } = first.body.hyperparameters;
    assert.deepEqual(
      { min_lr_rate, adam_beta1, adam_beta2, adam_epsilon, packing },
      { min_lr_rate: 0, adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8, packing: 'document_masked' },
    );
    assert.equal((await call(gateway, 'GET', '/v1/fine-tunes', { key: tenant.adminKey })).body.data.length, 1);
    const queued = await queue.getJob(first.body.id);
    assert.deepEqual(queued?.data, { jobId: first.body.id, tenantId: tenant.tenant.id });
    const versions = await call(gateway, 'GET', `/v1/adapters/${first.body.adapter_id}/versions`, {
      key: tenant.adminKey,
    });
    assert.deepEqual(
      versions.body.data.map((v: any) => [v.version, v.status]),
      [[1, 'queued']],
    );
    const events = await call(gateway, 'GET', `/v1/fine-tunes/${first.body.id}/events`, { key: tenant.adminKey });
    assert.deepEqual(
      events.body.data.map((e: any) => e.message),
      ['queued'],
    );
  });

  it('cancels a queued job at once: off the queue, version archived; a second cancel is a conflict', async () => {
    const job = (await post(valid({ adapter_name: 'to-cancel' }))).body;
    const cancelled = await call(gateway, 'POST', `/v1/fine-tunes/${job.id}/cancel`, { key: tenant.adminKey });
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, 'cancelled');
    assert.equal(await queue.getJob(job.id), undefined);
    const versions = await call(gateway, 'GET', `/v1/adapters/${job.adapter_id}/versions`, { key: tenant.adminKey });
    assert.equal(versions.body.data[0].status, 'archived');
    assert.equal(
      (await call(gateway, 'POST', `/v1/fine-tunes/${job.id}/cancel`, { key: tenant.adminKey })).status,
      409,
    );
  });

  it('puts a new adapter in the given access group in the same transaction, and never moves an existing one', async () => {
    const group = (await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'legal-team' } }))
      .body;
    const job = await post(valid({ adapter_name: 'grouped', access_group_id: group.id }));
    assert.equal(job.status, 201, JSON.stringify(job.body));
    const adapter = await call(gateway, 'GET', `/v1/adapters/${job.body.adapter_id}`, { key: tenant.adminKey });
    assert.equal(adapter.body.access_group_id, group.id);

    const other = (await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'finance-team' } }))
      .body;
    const moved = await post(valid({ adapter_name: 'grouped', access_group_id: other.id }));
    assert.equal(moved.status, 409);
    assert.equal(moved.body.errors[0].field, 'body.access_group_id');
    assert.equal(
      (await post(valid({ adapter_name: 'grouped', access_group_id: group.id }))).status,
      201,
      'the same group trains a next version',
    );
    assert.equal(
      (await post(valid({ adapter_name: 'fresh', access_group_id: 'grp_00000000000000000000000000' }))).status,
      404,
    );
    const partitioned = await post(
      valid({ adapter_name: 'kb', partition_by: 'access_group', access_group_id: group.id }),
    );
    assert.equal(partitioned.status, 400);
    assert.equal(partitioned.body.errors[0].field, 'body.access_group_id');
    assert.equal(
      (await call(gateway, 'GET', '/v1/adapters?limit=100', { key: tenant.adminKey })).body.data.filter(
        (a: any) => a.name === 'fresh',
      ).length,
      0,
      'a refused request creates nothing',
    );
  });
});
