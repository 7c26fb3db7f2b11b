import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newId } from '@tessera/contracts';
import { Database, type TenantTransaction } from '@tessera/db';
import { createJob } from '@tessera/domain';
import { composeQueue, redisConnection, webhookQueue } from '@tessera/queue';
import { tenantBlobStores } from '@tessera/storage';
import pg from 'pg';
import { eraseDerivedArtifacts, rebuildCompositions, type CascadeDeps } from './deletion-cascade.js';
import { staleByDeletion } from './job-deps.js';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

/**
 * The deletion's cascade through the lifecycle movers, against Postgres, Redis and a
 * filesystem blob store (no training: the rows a retrain would leave are written directly).
 */
describe('deletion cascade: derived artifacts erased, compositions rebuilt, races left to the later deletion', () => {
  const prefix = `int-cascade-${process.pid}`;
  const connection = redisConnection(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15');
  const compose = composeQueue(connection, prefix);
  const webhooks = webhookQueue(connection, prefix);
  const database = new Database({ connectionString: requiredEnv('TEST_DATABASE_URL'), maxConnections: 2 });
  const owner = new pg.Client({ connectionString: requiredEnv('TEST_OWNER_DATABASE_URL') });
  const tenantId = newId('ten');
  const ctx = { tenantId };
  let dataDir: string;
  let deps: CascadeDeps;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-cascade-'));
    await owner.connect();
    await owner.query('INSERT INTO tenants (id, name, updated_at) VALUES ($1, $1, now())', [tenantId]);
    await owner.query(
      "INSERT INTO webhook_endpoints (id, tenant_id, url, secret, event_types, updated_at) VALUES ($1, $2, 'https://93.184.216.34/hook', 'whsec_x', '{}', now())",
      [newId('wh'), tenantId],
    );
    deps = {
      database,
      blobs: tenantBlobStores({ kind: 'fs', dataDir }),
      models: undefined as never, // nothing here loads a model
      probers: undefined as never,
      webhooks,
      compose,
      threads: 1,
      executionProvider: 'cpu',
      log: () => {},
      evictCaches: () => Promise.reject(new Error('not called here')),
    };
  });
  after(async () => {
    await Promise.all([compose.obliterate({ force: true }), webhooks.obliterate({ force: true })]);
    await Promise.all([compose.close(), webhooks.close()]);
    await owner.query('DELETE FROM tenants WHERE id = $1', [tenantId]);
    await owner.end();
    await database.disconnect();
    await rm(dataDir, { recursive: true, force: true });
  });

  const tx = <T>(work: (t: TenantTransaction) => Promise<T>) => database.withTenant(ctx, work);
  const adapterWith = (name: string, statuses: string[]) =>
    tx(async (t) => {
      const baseModel = await t.baseModel.findFirstOrThrow({ where: { tenantId: null } });
      const adapter = await t.adapter.create({ data: { id: newId('ad'), tenantId, name, baseModelId: baseModel.id } });
      const versions = [];
      for (const [i, status] of statuses.entries()) {
        versions.push(
          await t.adapterVersion.create({
            data: {
              id: newId('adv'),
              tenantId,
              adapterId: adapter.id,
              version: i + 1,
              status: status as never,
              rank: 4,
              alpha: 8,
              targetModules: [],
              seed: 0,
            },
          }),
        );
      }
      return { adapter, versions, baseModelId: baseModel.id };
    });
  const composition = (
    name: string,
    method: string,
    status: string,
    members: { adapterId: string; adapterVersionId: string | null }[],
    baseModelId: string,
  ) =>
    tx(async (t) => {
      const row = await t.composition.create({
        data: {
          id: newId('cmp'),
          tenantId,
          name,
          method: method as never,
          status: status as never,
          params: { density: 0.4 },
        },
      });
      await t.compositionMember.createMany({
        data: members.map((m, i) => ({ tenantId, compositionId: row.id, weight: 0.5 + i / 10, ...m })),
      });
      if (method !== 'centroid')
        await createJob(t, { tenantId, kind: 'compose', compositionId: row.id, baseModelId, params: { density: 0.4 } });
      return row;
    });
  const statusOf = async (id: string) =>
    (await owner.query('SELECT status FROM compositions WHERE id = $1', [id])).rows[0].status as string;

  it('rebuilds a merge over the replacements, readies a knowledge base, fails a merge with a member gone, and does it once', async () => {
    const chef = await adapterWith('chef', ['stale', 'ready']);
    const other = await adapterWith('other', ['ready']);
    const gone = await adapterWith('gone', ['stale']);
    const merge = await composition(
      'blend',
      'ties',
      'stale',
      [
        { adapterId: chef.adapter.id, adapterVersionId: chef.versions[0]!.id },
        { adapterId: other.adapter.id, adapterVersionId: other.versions[0]!.id },
      ],
      chef.baseModelId,
    );
    const kb = await composition(
      'kb',
      'centroid',
      'stale',
      [{ adapterId: chef.adapter.id, adapterVersionId: null }],
      chef.baseModelId,
    );
    const orphan = await composition(
      'orphan',
      'linear',
      'stale',
      [{ adapterId: gone.adapter.id, adapterVersionId: gone.versions[0]!.id }],
      chef.baseModelId,
    );
    const replacements = new Map([
      [chef.versions[0]!.id, chef.versions[1]!.id],
      [gone.versions[0]!.id, null],
    ]);

    const rebuilt = await rebuildCompositions(deps, ctx, 'del_test', [merge.id, kb.id, orphan.id], replacements);
    const outcome = new Map(rebuilt.map((r) => [r.id, r]));
    assert.equal(outcome.get(merge.id)!.outcome, 'rebuilding');
    assert.equal(outcome.get(kb.id)!.outcome, 'ready');
    assert.deepEqual(
      [outcome.get(orphan.id)!.outcome, outcome.get(orphan.id)!.reason],
      ['cannot_rebuild', `member adapter ${gone.adapter.id} has no documents left to retrain on`],
    );
    assert.deepEqual(
      [await statusOf(merge.id), await statusOf(kb.id), await statusOf(orphan.id)],
      ['queued', 'ready', 'failed'],
    );

    const members = (
      await owner.query(
        'SELECT adapter_id, adapter_version_id, weight FROM composition_members WHERE composition_id = $1 ORDER BY weight',
        [merge.id],
      )
    ).rows;
    assert.deepEqual(
      members.map((m: { adapter_version_id: string; weight: number }) => [m.adapter_version_id, m.weight]),
      [
        [chef.versions[1]!.id, 0.5],
        [other.versions[0]!.id, 0.6],
      ],
      'repinned, weights kept',
    );
    const jobId = outcome.get(merge.id)!.job_id!;
    const job = (await owner.query('SELECT kind, status, params FROM jobs WHERE id = $1', [jobId])).rows[0];
    assert.deepEqual(
      [job.kind, job.status, job.params],
      ['compose', 'queued', { density: 0.4 }],
      'the same method params',
    );
    assert.ok(await compose.getJob(jobId), 'on the compose queue');
    const ready = (
      await owner.query("SELECT payload FROM webhook_events WHERE tenant_id = $1 AND type = 'composition.ready'", [
        tenantId,
      ])
    ).rows;
    assert.deepEqual(
      ready.map((r: { payload: { data: { id: string } } }) => r.payload.data.id),
      [kb.id],
    );

    // A retried deletion job: nothing is made twice.
    const jobsOf = async () =>
      (await owner.query('SELECT count(*)::int AS n FROM jobs WHERE composition_id = $1', [merge.id])).rows[0]
        .n as number;
    const jobsBefore = await jobsOf();
    const again = await rebuildCompositions(deps, ctx, 'del_test', [merge.id, kb.id, orphan.id], replacements);
    assert.deepEqual(
      again.map((r) => [r.outcome, r.job_id]),
      [
        ['rebuilding', jobId],
        ['unchanged', undefined],
        ['unchanged', undefined],
      ],
    );
    assert.equal(await jobsOf(), jobsBefore);
  });

  it('leaves a merge stale when a later deletion reached its replacement: that deletion rebuilds it', async () => {
    const chef = await adapterWith('chef-2', ['stale', 'stale']);
    const merge = await composition(
      'blend-2',
      'linear',
      'stale',
      [{ adapterId: chef.adapter.id, adapterVersionId: chef.versions[0]!.id }],
      chef.baseModelId,
    );
    const [result] = await rebuildCompositions(
      deps,
      ctx,
      'del_first',
      [merge.id],
      new Map([[chef.versions[0]!.id, chef.versions[1]!.id]]),
    );
    assert.equal(result!.outcome, 'unchanged');
    assert.equal(await statusOf(merge.id), 'stale');
  });

  it("erases the compositions' artifacts and the trainings' checkpoints, keeping bytes another row still points to", async () => {
    const store = deps.blobs.forTenant(tenantId);
    const chef = await adapterWith('chef-3', ['stale']);
    const artifact = await store.put(new TextEncoder().encode('merged weights'));
    const shared = await store.put(new TextEncoder().encode('an artifact two compositions share'));
    const checkpoint = await store.put(new TextEncoder().encode('lora and optimizer state'));
    const merge = await composition(
      'blend-3',
      'linear',
      'stale',
      [{ adapterId: chef.adapter.id, adapterVersionId: chef.versions[0]!.id }],
      chef.baseModelId,
    );
    const twin = await composition(
      'blend-3b',
      'linear',
      'ready',
      [{ adapterId: chef.adapter.id, adapterVersionId: chef.versions[0]!.id }],
      chef.baseModelId,
    );
    const gate = await composition(
      'gate-3',
      'learned_gate',
      'stale',
      [{ adapterId: chef.adapter.id, adapterVersionId: chef.versions[0]!.id }],
      chef.baseModelId,
    );
    await owner.query('UPDATE compositions SET artifact_blob = $2 WHERE id = $1', [merge.id, artifact.sha256]);
    await owner.query('UPDATE compositions SET artifact_blob = $2 WHERE id = ANY($1)', [
      [gate.id, twin.id],
      shared.sha256,
    ]);
    const training = await tx((t) =>
      createJob(t, {
        tenantId,
        kind: 'fine_tune',
        adapterId: chef.adapter.id,
        adapterVersionId: chef.versions[0]!.id,
        params: {},
      }),
    );
    await owner.query('INSERT INTO checkpoints (id, tenant_id, job_id, step, blob) VALUES ($1, $2, $3, 4, $4)', [
      newId('ckpt'),
      tenantId,
      training.id,
      checkpoint.sha256,
    ]);

    const erased = await eraseDerivedArtifacts(deps, ctx, [chef.versions[0]!.id], [merge.id, gate.id]);
    assert.deepEqual([erased.compositions, erased.checkpoints], [2, 1]);
    assert.equal(await store.has(artifact.sha256), false);
    assert.equal(await store.has(checkpoint.sha256), false);
    assert.equal(await store.has(shared.sha256), true, 'blend-3b still points to it');
    const pointers = (
      await owner.query('SELECT id, artifact_blob FROM compositions WHERE id = ANY($1)', [[merge.id, gate.id]])
    ).rows;
    assert.ok(pointers.every((p: { artifact_blob: string | null }) => p.artifact_blob === null));
    assert.equal(
      (await owner.query('SELECT count(*)::int AS n FROM checkpoints WHERE job_id = $1', [training.id])).rows[0].n,
      0,
    );
  });

  it('sees a deletion that reached a version while it trained, through its documents or its status', async () => {
    const chef = await adapterWith('chef-4', ['training', 'training']);
    const dataset = await tx((t) =>
      t.dataset.create({ data: { id: newId('ds'), tenantId, name: 'd', format: 'text' } }),
    );
    const doc = await tx((t) =>
      t.document.create({
        data: {
          id: newId('doc'),
          tenantId,
          datasetId: dataset.id,
          externalId: 'x',
          contentHash: 'h',
          recordCount: 1,
          tokenCount: 1,
        },
      }),
    );
    assert.equal(await tx((t) => staleByDeletion(t, tenantId, chef.versions[0]!.id, [doc.id])), false);
    await owner.query("UPDATE documents SET status = 'deleting' WHERE id = $1", [doc.id]);
    assert.equal(await tx((t) => staleByDeletion(t, tenantId, chef.versions[0]!.id, [doc.id])), true);
    assert.equal(
      (await owner.query('SELECT status FROM adapter_versions WHERE id = $1', [chef.versions[0]!.id])).rows[0].status,
      'stale',
    );
    await owner.query("UPDATE adapter_versions SET status = 'stale' WHERE id = $1", [chef.versions[1]!.id]);
    assert.equal(
      await tx((t) => staleByDeletion(t, tenantId, chef.versions[1]!.id, [])),
      true,
      'marked stale by the gateway before its documents were recorded',
    );
  });
});
