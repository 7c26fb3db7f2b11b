import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newId } from '@tessera/contracts';
import { Database } from '@tessera/db';
import pg from 'pg';
import { createJob, moveCompositions, moveJob } from './movers.js';
import { IllegalTransition } from './transitions.js';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

describe('movers against Postgres: the status, its job event and its webhook events in one transaction', () => {
  const database = new Database({ connectionString: requiredEnv('TEST_DATABASE_URL'), maxConnections: 4 });
  const owner = new pg.Client({ connectionString: requiredEnv('TEST_OWNER_DATABASE_URL') });
  const tenantId = newId('ten');
  const ctx = { tenantId };

  before(async () => {
    await owner.connect();
    await owner.query('INSERT INTO tenants (id, name, updated_at) VALUES ($1, $1, now())', [tenantId]);
    // An endpoint for every event type: each webhook event of a move gets a delivery.
    await owner.query(
      "INSERT INTO webhook_endpoints (id, tenant_id, url, secret, event_types, updated_at) VALUES ($1, $2, 'https://93.184.216.34/hook', 'whsec_x', '{}', now())",
      [newId('wh'), tenantId],
    );
  });
  after(async () => {
    await owner.query('DELETE FROM tenants WHERE id = $1', [tenantId]);
    await owner.end();
    await database.disconnect();
  });

  const newJob = () => database.withTenant(ctx, (tx) => createJob(tx, { tenantId, kind: 'fine_tune', params: {} }));
  const eventsOf = async (jobId: string) =>
    (await owner.query('SELECT message FROM job_events WHERE job_id = $1 ORDER BY id', [jobId])).rows.map(
      (r: { message: string }) => r.message,
    );
  const statusOf = async (jobId: string) =>
    (await owner.query('SELECT status FROM jobs WHERE id = $1', [jobId])).rows[0].status as string;
  const webhookEvents = async () =>
    (await owner.query('SELECT count(*)::int AS n FROM webhook_events WHERE tenant_id = $1', [tenantId])).rows[0]
      .n as number;

  it('creates a job queued with its first event, and moves it with its event and webhook', async () => {
    const job = await newJob();
    assert.deepEqual([await statusOf(job.id), await eventsOf(job.id)], ['queued', ['queued']]);
    await database.withTenant(ctx, (tx) =>
      moveJob(tx, tenantId, job.id, 'running', { data: { attempts: { increment: 1 } } }),
    );
    const before = await webhookEvents();
    const moved = await database.withTenant(ctx, (tx) =>
      moveJob(tx, tenantId, job.id, 'succeeded', {
        data: { progress: 1 },
        event: { message: 'done', data: { steps: 3 } },
        webhooks: [{ type: 'fine_tune.succeeded', data: { id: job.id } }],
      }),
    );
    assert.equal(moved!.deliveryIds.length, 1);
    assert.deepEqual([await statusOf(job.id), await eventsOf(job.id)], ['succeeded', ['queued', 'running', 'done']]);
    assert.equal(await webhookEvents(), before + 1);
    const row = (await owner.query('SELECT attempts, progress FROM jobs WHERE id = $1', [job.id])).rows[0];
    assert.deepEqual([row.attempts, row.progress], [1, 1]);
  });

  it('refuses a move the table does not allow, and the transaction keeps nothing of it', async () => {
    const job = await newJob();
    await database.withTenant(ctx, (tx) => moveJob(tx, tenantId, job.id, 'cancelled'));
    const before = await webhookEvents();
    await assert.rejects(
      database.withTenant(ctx, async (tx) => {
        await tx.jobEvent.create({
          data: { id: newId('jev'), tenantId, jobId: job.id, type: 'message', message: 'written before the refusal' },
        });
        await moveJob(tx, tenantId, job.id, 'running', {
          webhooks: [{ type: 'fine_tune.succeeded', data: { id: job.id } }],
        });
      }),
      (error: unknown) => error instanceof IllegalTransition && /cancelled → running/.test(error.message),
    );
    assert.deepEqual([await statusOf(job.id), await eventsOf(job.id)], ['cancelled', ['queued', 'cancelled']]);
    assert.equal(await webhookEvents(), before);
  });

  it('answers null when asked ifAllowed, writing nothing', async () => {
    const job = await newJob();
    await database.withTenant(ctx, (tx) => moveJob(tx, tenantId, job.id, 'failed'));
    assert.equal(
      await database.withTenant(ctx, (tx) => moveJob(tx, tenantId, job.id, 'running', { ifAllowed: true })),
      null,
    );
    assert.deepEqual(await eventsOf(job.id), ['queued', 'failed']);
  });

  it('lets exactly one of two racing moves win (compare-and-set)', async () => {
    const id = newId('cmp');
    await owner.query(
      "INSERT INTO compositions (id, tenant_id, name, method, status, updated_at) VALUES ($1, $2, $1, 'linear', 'building', now())",
      [id, tenantId],
    );
    // A build finishing and a deletion marking it stale, at once. The table lets stale → ready (a
    // knowledge base's retrain), so the build narrows to building → ready: after stale it cannot land.
    const results = await Promise.allSettled([
      database.withTenant(ctx, (tx) => moveCompositions(tx, tenantId, [id], 'stale')),
      database.withTenant(ctx, (tx) =>
        moveCompositions(tx, tenantId, [id], 'ready', { from: ['building'], ifAllowed: true }),
      ),
    ]);
    const status = (await owner.query('SELECT status FROM compositions WHERE id = $1', [id])).rows[0].status;
    assert.equal(results[0].status, 'fulfilled');
    // Either the build landed first (then the deletion made it stale) or it was refused: stale either way.
    assert.equal(status, 'stale');
  });

  it('names a row that does not exist', async () => {
    await assert.rejects(
      database.withTenant(ctx, (tx) => moveJob(tx, tenantId, 'job_missing', 'running')),
      /does not exist/,
    );
  });
});
