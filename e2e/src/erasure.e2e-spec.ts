import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DELETION_STEP_NAMES } from '@tessera/contracts';
import { domainTexts } from '@tessera/engine';
import pg from 'pg';
import { jsonCall, putDatasetContent, until as untilReady } from './api-calls.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

const PLATFORM_KEY = 'e2e-platform-admin-key-0123456789';
const HYPERPARAMETERS = {
  max_steps: 16,
  batch_size: 4,
  max_sequence_length: 96,
  learning_rate: 2e-2,
  rank: 4,
  seed: 3,
  checkpoint_every: 5,
};
/** What only the deleted document holds: its bytes must be nowhere once it is deleted. */
const CANARY = 'the pantry safe opens with 7f3a-quince-4421-marjoram';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

/** Every file under `dir`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

/**
 * The erasure inventory: one document trained an adapter, a knowledge base's partition, a
 * merged composition and a learned gate. After its deletion no blob and no database row may
 * hold its bytes or anything computed from them (weights, artifacts, checkpoints, its hash),
 * and no worker may hold the stale weights in memory.
 */
describe('erasure inventory: a deletion reaches every artifact derived from the document', () => {
  let dataDir: string;
  let gateway: GatewayProcess;
  const workers: WorkerProcess[] = [];
  let receiver: WebhookReceiver;
  let adminKey: string;
  let tenantId: string;
  let owner: pg.Client;

  const http = (method: string, url: string, body?: unknown) => jsonCall(gateway.url, adminKey, method, url, body);
  const until = <T>(
    what: string,
    read: () => Promise<T>,
    ready: (value: T) => boolean,
    failed: (value: T) => boolean = () => false,
  ) => untilReady(what, read, ready, failed, () => workers.map((w) => w.output()).join('\n'));
  const upload = async (name: string, lines: object[]) => {
    const created = await http('POST', '/v1/datasets', { name, format: 'text' });
    await putDatasetContent(gateway.url, adminKey, created.body.id, lines);
    return created.body.id as string;
  };
  const fineTune = async (body: object) => {
    const job = await http('POST', '/v1/fine-tunes', {
      base_model: 'tessera-demo',
      hyperparameters: HYPERPARAMETERS,
      validation_split: 0,
      ...body,
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    return until(
      `fine-tune ${job.body.id}`,
      async () => (await http('GET', `/v1/fine-tunes/${job.body.id}`)).body,
      (f) => f.status === 'succeeded',
      (f) => f.status === 'failed',
    );
  };
  const compositionReady = (id: string, version?: (c: any) => boolean) =>
    until(
      `composition ${id}`,
      async () => (await http('GET', `/v1/compositions/${id}`)).body,
      (c) => c.status === 'ready' && (version?.(c) ?? true),
      (c) => c.status === 'failed',
    );
  const blobFiles = () => filesUnder(path.join(dataDir, 'blobs', tenantId));

  let dataset: string;
  let chef: { id: string; jobId: string };
  let partition: string;
  let blend: string;
  let gate: string;
  let knowledgeBase: string;
  /** Blob addresses computed from the canary, taken before the deletion. */
  let derived: string[] = [];
  let canaryHash: string;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-erasure-'));
    receiver = await startWebhookReceiver();
    const env = {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      DATABASE_URL: requiredEnv('TEST_DATABASE_URL'),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      DATA_DIR: dataDir,
      QUEUE_PREFIX: `e2e-erasure-${process.pid}`,
    };
    gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: PLATFORM_KEY });
    // Two workers: the eviction must reach each, whichever served what.
    for (let i = 0; i < 2; i++)
      workers.push(await startWorkerProcess({ ...env, WORKER_THREADS: '1', INFER_SLOTS: '4' }));
    owner = new pg.Client({ connectionString: requiredEnv('TEST_OWNER_DATABASE_URL') });
    await owner.connect();
    const created = await fetch(`${gateway.url}/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PLATFORM_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Erasure' }),
    }).then((r) => r.json() as Promise<any>);
    adminKey = created.api_key.secret;
    tenantId = created.tenant.id;
    await http('POST', '/v1/groups', { name: 'kitchen' });
    await http('POST', '/v1/webhooks', {
      url: receiver.url,
      event_types: ['composition.stale', 'composition.ready', 'deletion.completed'],
    });

    const recipes = domainTexts('recipes', 8, 21).map((text, i) => ({
      text,
      document_id: `recipe-${i}`,
      access_group: 'kitchen',
    }));
    dataset = await upload('pantry', [
      ...recipes,
      ...Array.from({ length: 4 }, () => ({ text: CANARY, document_id: 'canary', access_group: 'kitchen' })),
    ]);
    await upload(
      'controls',
      domainTexts('recipes', 6, 99).map((text, i) => ({ text, document_id: `control-${i}`, access_group: 'kitchen' })),
    );
    const weather = await upload(
      'weather',
      domainTexts('weather', 8, 4).map((text, i) => ({ text, document_id: `report-${i}` })),
    );

    const chefJob = await fineTune({ dataset_id: dataset, adapter_name: 'chef' });
    chef = { id: chefJob.adapter_id, jobId: chefJob.id };
    await fineTune({ dataset_id: weather, adapter_name: 'forecaster' });
    const kb = await fineTune({ dataset_id: dataset, adapter_name: 'pantry-kb', partition_by: 'access_group' });
    partition = kb.partitions[0].adapter_id;
    knowledgeBase = (await http('GET', '/v1/compositions')).body.data.find(
      (c: { name: string }) => c.name === 'pantry-kb',
    ).id;
    const members = [
      { adapter: 'chef', weight: 0.6 },
      { adapter: 'forecaster', weight: 0.4 },
    ];
    blend = (await http('POST', '/v1/compositions', { name: 'blend', method: 'linear', members })).body.id;
    gate = (
      await http('POST', '/v1/compositions', {
        name: 'gate',
        method: 'learned_gate',
        members,
        params: { dataset_id: dataset, max_steps: 4 },
      })
    ).body.id;
    await compositionReady(blend);
    await compositionReady(gate);

    // Each worker serves chef and the merged blend once, so their weights sit in memory.
    for (let i = 0; i < 4; i++) {
      for (const model of ['chef', 'blend', 'gate']) {
        const answer = await http('POST', '/v1/completions', {
          model,
          prompt: 'mix 2 cups of',
          max_tokens: 2,
          temperature: 0,
        });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
      }
    }

    const rows = await owner.query(
      `SELECT weights_blob AS blob FROM adapter_versions WHERE adapter_id = ANY($1) AND weights_blob IS NOT NULL
       UNION ALL SELECT artifact_blob FROM compositions WHERE id = ANY($2) AND artifact_blob IS NOT NULL
       UNION ALL SELECT c.blob FROM checkpoints c JOIN jobs j ON j.id = c.job_id WHERE j.adapter_id = ANY($1)
       UNION ALL SELECT blob FROM datasets WHERE id = $3`,
      [[chef.id, partition], [blend, gate], dataset],
    );
    derived = rows.rows.map((r: { blob: string }) => r.blob);
    canaryHash = (
      await owner.query(`SELECT content_hash FROM documents WHERE dataset_id = $1 AND external_id = 'canary'`, [
        dataset,
      ])
    ).rows[0].content_hash;
    assert.ok(derived.length >= 7, `weights ×2, artifacts ×2, checkpoints, the dataset: ${derived.length}`);
    for (const blob of derived)
      assert.ok(
        blobFiles().some((f) => f.endsWith(blob)),
        `${blob} is stored before the deletion`,
      );
    assert.ok(
      blobFiles().some((f) => readFileSync(f).includes(CANARY)),
      'the canary is in the dataset blob before',
    );
  });

  after(async () => {
    for (const worker of workers) await worker.stop();
    assert.equal(await gateway.stop(), 0);
    await owner?.end();
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('marks every composition built on it stale at once, out of serving and /v1/models', async () => {
    const deletion = await http('DELETE', `/v1/datasets/${dataset}/documents/canary`);
    assert.equal(deletion.status, 202, JSON.stringify(deletion.body));
    const compositionIds = deletion.body.steps[0].detail.compositions as string[];
    assert.deepEqual([...compositionIds].sort(), [blend, gate, knowledgeBase].sort());
    for (const id of compositionIds)
      assert.equal((await receiver.event('composition.stale', id)).data.deletion_id, deletion.body.id);
    const listed = (await http('GET', '/v1/models')).body.data.map((m: { id: string }) => m.id);
    assert.ok(
      !listed.includes('blend') && !listed.includes('gate') && !listed.includes('pantry-kb'),
      `listed: ${listed}`,
    );

    const done = await until(
      'the deletion',
      async () => (await http('GET', `/v1/deletions/${deletion.body.id}`)).body,
      (d) => d.status === 'completed',
      (d) => d.status === 'failed',
    );
    assert.deepEqual(
      done.steps.map((s: { name: string }) => s.name),
      [...DELETION_STEP_NAMES],
    );
    const step = (name: string) => done.steps.find((s: { name: string }) => s.name === name).detail;
    assert.ok(step('weights_erased').checkpoints >= 1, "the trainings' checkpoints are erased");
    assert.equal(step('weights_erased').composition_artifacts, 2);
    const evicted = step('caches_evicted');
    assert.deepEqual(
      [evicted.workers, evicted.acknowledged, evicted.timed_out],
      [2, 2, false],
      'every worker answered',
    );
    assert.ok(
      // A slot is an adapter's one copy in memory (the host cache let go of it): slots, not the host cache.
      evicted.slots >= 1 && evicted.artifacts >= 1,
      `stale weights were in memory and are gone: ${JSON.stringify(evicted)}`,
    );
    const rebuilt = new Map(
      step('compositions_rebuilt').compositions.map((c: { id: string; outcome: string }) => [c.id, c.outcome]),
    );
    assert.deepEqual(
      [rebuilt.get(knowledgeBase), rebuilt.get(blend), rebuilt.get(gate)],
      ['ready', 'rebuilding', 'rebuilding'],
    );
    assert.ok(['looks_unseen', 'inconclusive'].includes(done.proof.verdict));
    assert.deepEqual(
      done.proof.caches_evicted,
      { workers: 2, acknowledged: 2, timed_out: false },
      'the proof says every worker cleared its memory',
    );
  });

  it('rebuilds each composition over the retrained versions with the same method and weights', async () => {
    const rebuiltBlend = await compositionReady(
      blend,
      (c) => c.members.find((m: { adapter: string }) => m.adapter === 'chef').version === 2,
    );
    const members = rebuiltBlend.members
      .map((m: { adapter: string; version: number; weight: number }) => [m.adapter, m.version, m.weight])
      .sort();
    assert.deepEqual(members, [
      ['chef', 2, 0.6],
      ['forecaster', 1, 0.4],
    ]);
    await compositionReady(gate, (c) => c.members.find((m: { adapter: string }) => m.adapter === 'chef').version === 2);
    for (const id of [blend, gate, knowledgeBase]) assert.ok((await receiver.event('composition.ready', id)).data.id);
    for (const model of ['blend', 'gate', 'pantry-kb']) {
      const answer = await http('POST', '/v1/completions', {
        model,
        prompt: 'mix 2 cups of',
        max_tokens: 2,
        temperature: 0,
      });
      assert.equal(answer.status, 200, `${model}: ${JSON.stringify(answer.body)}`);
    }
  });

  it("leaves the canary's bytes, its hash and every artifact computed from it in no blob and no row", async () => {
    const files = blobFiles();
    for (const blob of derived) assert.ok(!files.some((f) => f.endsWith(blob)), `blob ${blob} survived the deletion`);
    for (const file of files) assert.ok(!readFileSync(file).includes(CANARY), `${file} holds the canary`);
    const tables = (
      await owner.query(
        `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'`,
      )
    ).rows.map((r: { tablename: string }) => r.tablename);
    assert.ok(tables.length >= 20, `scanned ${tables.length} tables`);
    for (const table of tables) {
      const found = await owner.query(
        `SELECT count(*)::int AS n FROM "${table}" t WHERE strpos(t::text, $1) > 0 OR strpos(t::text, $2) > 0`,
        [CANARY, canaryHash],
      );
      assert.equal(found.rows[0].n, 0, `table ${table} holds the canary or its hash`);
    }
    // No row points to an erased blob: weights, artifacts, checkpoints and datasets all moved on.
    const pointers = await owner.query(
      `SELECT count(*)::int AS n FROM (
         SELECT weights_blob AS blob FROM adapter_versions UNION ALL SELECT artifact_blob FROM compositions
         UNION ALL SELECT blob FROM checkpoints UNION ALL SELECT blob FROM datasets) p WHERE blob = ANY($1)`,
      [derived],
    );
    assert.equal(pointers.rows[0].n, 0);
    // The stale versions keep their rows for the record, not what was computed from the text.
    const stale = await owner.query(
      "SELECT count(*)::int AS n FROM adapter_versions WHERE adapter_id = ANY($1) AND status = 'stale' AND (centroid IS NOT NULL OR metrics IS NOT NULL OR weights_blob IS NOT NULL)",
      [[chef.id, partition]],
    );
    assert.equal(stale.rows[0].n, 0, 'a stale version kept its weights, centroid or metrics');
  });
});
