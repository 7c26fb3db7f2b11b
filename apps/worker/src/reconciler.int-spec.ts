import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newId } from '@tessera/contracts';
import { Database } from '@tessera/db';
import { createJob } from '@tessera/domain';
import { composeQueue, redisConnection, trainQueue, webhookQueue } from '@tessera/queue';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { reconcile, type ReconcilerDeps } from './reconciler.js';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

/**
 * The reconciler against Postgres and Redis: rows with no queue entry are enqueued under
 * their own ids, live entries are left alone, ended entries of unfinished rows are revived
 * a bounded number of times, and young rows are left to their creator.
 */
describe('reconciler: Postgres says what should be queued, Redis is made to agree', () => {
  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';
  const prefix = `int-reconcile-${process.pid}`;
  const connection = redisConnection(redisUrl);
  const train = trainQueue(connection, prefix);
  const compose = composeQueue(connection, prefix);
  const webhooks = webhookQueue(connection, prefix);
  const redis = new Redis(redisUrl);
  const database = new Database({ connectionString: requiredEnv('TEST_DATABASE_URL'), maxConnections: 2 });
  const owner = new pg.Client({ connectionString: requiredEnv('TEST_OWNER_DATABASE_URL') });
  const tenantId = newId('ten');
  // The real scan, narrowed to this file's tenant: other test files' rows are theirs.
  const ownWork: Database = Object.assign(Object.create(database) as Database, {
    unfinishedWork: async (before: Date) =>
      (await database.unfinishedWork(before)).filter((work) => work.tenantId === tenantId),
  });
  const deps: ReconcilerDeps = {
    database: ownWork,
    redis,
    prefix,
    train,
    compose,
    webhooks,
    // Every row counts as settled: created_at is rounded to the millisecond and may sit just ahead of Date.now().
    settleMs: -1_000,
    log: () => {},
  };

  before(async () => {
    await owner.connect();
    await owner.query('INSERT INTO tenants (id, name, updated_at) VALUES ($1, $1, now())', [tenantId]);
  });
  after(async () => {
    await Promise.all([train, compose, webhooks].map((q) => q.obliterate({ force: true })));
    await Promise.all([train.close(), compose.close(), webhooks.close()]);
    await redis.quit();
    await owner.query('DELETE FROM tenants WHERE id = $1', [tenantId]);
    await owner.end();
    await database.disconnect();
  });

  const job = (kind: 'fine_tune' | 'compose' | 'retrain', extra: Record<string, unknown> = {}) =>
    database.withTenant({ tenantId }, (tx) => createJob(tx, { tenantId, kind, params: {}, ...extra }));

  it('enqueues every unfinished row that no queue holds, on the queue and under the name its kind runs on', async () => {
    const fineTune = await job('fine_tune');
    const partitioned = await job('fine_tune', { params: { partition_by: 'access_group' } });
    const compositionId = newId('cmp');
    await owner.query(
      "INSERT INTO compositions (id, tenant_id, name, method, status, updated_at) VALUES ($1, $2, $1, 'linear', 'queued', now())",
      [compositionId, tenantId],
    );
    const composeJob = await job('compose', { compositionId });
    const deletionId = newId('del');
    await owner.query('INSERT INTO deletion_requests (id, tenant_id) VALUES ($1, $2)', [deletionId, tenantId]);
    const deletion = await job('retrain', { deletionRequestId: deletionId });
    const ended = await job('fine_tune');
    await owner.query("UPDATE jobs SET status = 'succeeded' WHERE id = $1", [ended.id]);

    const report = await reconcile(deps);
    assert.ok(report);
    for (const id of [fineTune.id, partitioned.id, composeJob.id, deletion.id]) assert.ok(report.enqueued.includes(id));
    assert.ok(!report.enqueued.includes(ended.id), 'an ended row is not enqueued');
    assert.equal((await train.getJob(fineTune.id))?.name, 'fine_tune');
    assert.equal((await train.getJob(partitioned.id))?.name, 'partitioned');
    assert.equal((await train.getJob(deletion.id))?.name, 'deletion');
    assert.deepEqual((await compose.getJob(composeJob.id))?.data, { jobId: composeJob.id, tenantId, compositionId });

    const again = await reconcile(deps);
    assert.deepEqual([again!.enqueued, again!.revived], [[], []], 'live entries are left alone');
    await owner.query("UPDATE jobs SET status = 'succeeded' WHERE tenant_id = $1", [tenantId]);
    await Promise.all([train.obliterate({ force: true }), compose.obliterate({ force: true })]);
  });

  it('revives an entry that failed while its row stayed unfinished, a bounded number of times', async () => {
    const row = await job('fine_tune');
    await reconcile(deps);
    // Takes entries by hand, as a worker would, and fails them the way a handler whose last
    // write was lost leaves them: the entry failed, the row still unfinished.
    const taker = new Worker(train.name, null, { connection, prefix });
    try {
      for (let revival = 1; revival <= 4; revival++) {
        const taken = (await taker.getNextJob('token'))!;
        assert.equal(taken.id, row.id);
        await taken.moveToFailed(new UnrecoverableError('database blip'), 'token', false);
        const report = await reconcile(deps);
        if (revival <= 3) {
          assert.deepEqual(report!.revived, [row.id], `revival ${revival}`);
          assert.equal(await train.getJobState(row.id), 'waiting');
        } else {
          assert.ok(report!.skipped.includes(row.id), 'past the bound it is left to an operator');
          assert.equal(await train.getJobState(row.id), 'failed');
        }
      }
    } finally {
      await taker.close();
    }
    await owner.query("UPDATE jobs SET status = 'failed' WHERE id = $1", [row.id]);
  });

  it('puts a pending delivery back as its next attempt, delayed to its scheduled time', async () => {
    const endpointId = newId('wh');
    const eventId = newId('evt');
    const deliveryId = newId('whd');
    await owner.query(
      "INSERT INTO webhook_endpoints (id, tenant_id, url, secret, event_types, updated_at) VALUES ($1, $2, 'https://93.184.216.34/hook', 'whsec_x', '{}', now())",
      [endpointId, tenantId],
    );
    await owner.query("INSERT INTO webhook_events (id, tenant_id, type, payload) VALUES ($1, $2, 'ping', '{}')", [
      eventId,
      tenantId,
    ]);
    await owner.query(
      "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, status, attempt_count, next_attempt_at) VALUES ($1, $2, $3, $4, 'pending', 2, now() + interval '1 hour')",
      [deliveryId, tenantId, endpointId, eventId],
    );
    const report = await reconcile(deps);
    assert.ok(report!.enqueued.includes(`${deliveryId}-3`));
    const entry = (await webhooks.getJob(`${deliveryId}-3`))!;
    assert.deepEqual(entry.data, { deliveryId, tenantId, attempt: 3 });
    assert.equal(await webhooks.getJobState(entry.id!), 'delayed');
    assert.ok(entry.opts.delay! > 3_500_000 && entry.opts.delay! <= 3_600_000, `delay ${entry.opts.delay}`);
  });

  it('leaves rows younger than the settle time to whoever is creating them', async () => {
    const row = await job('fine_tune');
    const report = await reconcile({ ...deps, settleMs: 60_000 });
    assert.ok(!report!.enqueued.includes(row.id));
    assert.equal(await train.getJobState(row.id), 'unknown');
  });

  it('runs one pass at a time: a second reconciler finds the lock taken', async () => {
    await redis.set(`${prefix}:reconciler-lock`, 'another', 'PX', 5_000);
    assert.equal(await reconcile(deps), null);
    await redis.del(`${prefix}:reconciler-lock`);
  });
});
