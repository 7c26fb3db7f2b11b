import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Database } from '@tessera/db';
import { composeQueue, redisConnection, trainQueue } from '@tessera/queue';
import {
  uploadAdapter as uploadFixtureAdapter,
  uploadDataset as uploadFixtureDataset,
} from './testing/tenant-fixtures.js';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

describe('compositions, partitioned fine-tunes and deletions (gateway side: no worker runs here)', () => {
  const prefix = `int-cmp-${process.pid}`;
  const connection = redisConnection(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15');
  const compose = composeQueue(connection, prefix);
  const train = trainQueue(connection, prefix);
  let gateway: TestGateway;
  const database = new Database({ connectionString: process.env.TEST_DATABASE_URL!, maxConnections: 1 });
  let dataDir: string;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let outsiderKey: string;
  let secretGroup: string;
  const req = (method: string, url: string, options: Parameters<typeof call>[3] = {}) =>
    call(gateway, method, url, { key: tenant.adminKey, ...options });

  const uploadAdapter = (name: string, seed: number, group?: string) =>
    uploadFixtureAdapter(gateway, tenant.adminKey, name, seed, group);
  const uploadDataset = (name: string, lines: object[]) => uploadFixtureDataset(gateway, tenant.adminKey, name, lines);

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-cmp-'));
    gateway = await startTestGateway({ DATA_DIR: dataDir, QUEUE_PREFIX: prefix });
    tenant = await createTenant(gateway);
    secretGroup = (await req('POST', '/v1/groups', { body: { name: 'secret' } })).body.id;
    outsiderKey = (await req('POST', '/v1/api-keys', { body: { name: 'outsider', scopes: ['write', 'infer'] } })).body
      .secret;
    await uploadAdapter('alpha', 1);
    await uploadAdapter('beta', 2);
    await uploadAdapter('hidden', 3, secretGroup);
  });
  after(async () => {
    await Promise.all([compose.obliterate({ force: true }), train.obliterate({ force: true })]);
    await Promise.all([compose.close(), train.close()]);
    await gateway.close();
    await database.disconnect();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('POST /v1/compositions pins members to their versions, records a compose job and queues it; the same name again is version 2', async () => {
    const created = await req('POST', '/v1/compositions', {
      body: {
        name: 'blend',
        method: 'ties',
        members: [{ adapter: 'alpha', weight: 0.7 }, { adapter: 'beta@1' }],
        params: { density: 0.4 },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'queued');
    assert.equal(created.body.version, 1);
    assert.deepEqual(
      created.body.members.map((m: any) => [m.adapter, m.version, m.weight]),
      [
        ['alpha', 1, 0.7],
        ['beta', 1, 1],
      ],
    );
    const queued = await compose.getJob(created.body.job_id);
    assert.deepEqual(queued?.data, {
      jobId: created.body.job_id,
      tenantId: tenant.tenant.id,
      compositionId: created.body.id,
    });
    const again = await req('POST', '/v1/compositions', {
      body: { name: 'blend', method: 'cat', members: [{ adapter: 'alpha' }] },
    });
    assert.equal(again.body.version, 2);
    assert.deepEqual((await req('GET', `/v1/compositions/${created.body.id}`)).body, created.body);
    assert.equal((await req('GET', '/v1/compositions')).body.data.length, 2);
  });

  it("refuses what cannot be composed, naming the field; an adapter outside the caller's groups is the same 404 as an unknown one", async () => {
    const post = (body: object, key = tenant.adminKey) => call(gateway, 'POST', '/v1/compositions', { key, body });
    const unknown = await post({ name: 'x', method: 'linear', members: [{ adapter: 'nope' }] });
    const hidden = await post({ name: 'x', method: 'linear', members: [{ adapter: 'hidden' }] }, outsiderKey);
    assert.deepEqual([unknown.status, hidden.status], [404, 404]);
    assert.equal(hidden.body.type, unknown.body.type);
    const noData = await post({
      name: 'x',
      method: 'learned_gate',
      members: [{ adapter: 'alpha' }, { adapter: 'beta' }],
    });
    assert.equal(noData.status, 400);
    assert.equal(noData.body.errors[0].field, 'body.params.dataset_id');
    const density = await post({ name: 'x', method: 'ties', members: [{ adapter: 'alpha' }], params: { density: 0 } });
    assert.equal(density.status, 400);
    assert.equal(density.body.errors[0].field, 'body.params.density');
    const twice = await post({ name: 'x', method: 'linear', members: [{ adapter: 'alpha' }, { adapter: 'alpha@1' }] });
    assert.equal(twice.status, 400);
    const gated = await post({
      name: 'gated',
      method: 'linear',
      members: [{ adapter: 'alpha' }],
      access_group_id: secretGroup,
    });
    assert.equal(gated.status, 201);
    assert.equal((await call(gateway, 'GET', `/v1/compositions/${gated.body.id}`, { key: outsiderKey })).status, 404);
  });

  it('a partitioned fine-tune makes one adapter per access group with a job each under a parent flow; documents already in a partition are not trained again', async () => {
    await req('POST', '/v1/groups', { body: { name: 'kitchen' } });
    const lines = [
      { text: 'mix flour', document_id: 'r1', access_group: 'kitchen' },
      { text: 'let x = 1;', document_id: 'c1' },
      { text: 'stir oats', document_id: 'r2', access_group: 'kitchen' },
      { text: 'bake bread', document_id: 'r3', access_group: 'kitchen' },
    ];
    const dataset = await uploadDataset('kb-data', lines);
    const job = await req('POST', '/v1/fine-tunes', {
      body: {
        base_model: 'tessera-demo',
        dataset_id: dataset,
        adapter_name: 'kb',
        partition_by: 'access_group',
        max_documents_per_partition: 2,
      },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    // By document_id: the tenant's own: c1; kitchen: r1, r2 | r3 (at most 2 each).
    const kitchen = (await req('GET', '/v1/groups')).body.data.find((g: any) => g.name === 'kitchen').id;
    assert.deepEqual(
      job.body.partitions.map((p: any) => [p.access_group_id, p.documents]),
      [
        [null, 1],
        [kitchen, 2],
        [kitchen, 1],
      ],
    );
    assert.deepEqual(
      (await req('GET', `/v1/fine-tunes/${job.body.id}`)).body.partitions,
      job.body.partitions,
      'reading the job back counts the same documents per partition',
    );
    const parent = await train.getJob(job.body.id);
    assert.equal(await parent!.getState(), 'waiting-children');
    const children = await Promise.all(job.body.partitions.map((p: any) => train.getJob(p.job_id)));
    assert.ok(children.every((c) => c?.name === 'fine_tune' && c.parent?.id === job.body.id));
    const kb = (await req('GET', '/v1/compositions')).body.data.find((c: any) => c.name === 'kb');
    assert.equal(kb.method, 'centroid');
    assert.equal(kb.members.length, 3);
    const again = await req('POST', '/v1/fine-tunes', {
      body: { base_model: 'tessera-demo', dataset_id: dataset, adapter_name: 'kb', partition_by: 'access_group' },
    });
    assert.equal(again.status, 409);
    const stray = await req('POST', '/v1/fine-tunes', {
      body: { base_model: 'tessera-demo', dataset_id: dataset, adapter_name: 'solo', max_documents_per_partition: 2 },
    });
    assert.equal(stray.status, 400);
    assert.equal(stray.body.errors[0].field, 'body.max_documents_per_partition');
  });

  it('a deletion marks every version the document trained stale at once and queues the retrain; unknown documents are 404s, a second deletion of one document a 409', async () => {
    const dataset = await uploadDataset('to-delete', [
      { text: 'one', document_id: 'd1' },
      { text: 'two', document_id: 'd2' },
    ]);
    const job = (
      await req('POST', '/v1/fine-tunes', {
        body: { base_model: 'tessera-demo', dataset_id: dataset, adapter_name: 'plain' },
      })
    ).body;
    const unknown = await req('DELETE', `/v1/datasets/${dataset}/documents/d9`);
    assert.equal(unknown.status, 404);
    const deletion = await req('DELETE', `/v1/datasets/${dataset}/documents/d1`);
    assert.equal(deletion.status, 202, JSON.stringify(deletion.body));
    assert.deepEqual(deletion.body.affected_versions, [job.adapter_version_id]);
    assert.deepEqual(
      deletion.body.steps.map((s: any) => s.name),
      ['marked_stale'],
    );
    const versions = (await req('GET', `/v1/adapters/${job.adapter_id}/versions`)).body.data;
    assert.equal(versions[0].status, 'stale');
    assert.equal((await req('DELETE', `/v1/datasets/${dataset}/documents/d1`)).status, 409);
    const queued = (await train.getJobs(['waiting', 'prioritized'])).find((j) => j.name === 'deletion');
    assert.ok(queued, 'the deletion job is queued');
    assert.deepEqual((await req('GET', `/v1/deletions/${deletion.body.id}`)).body, deletion.body);
    const many = await req('POST', '/v1/deletions', {
      body: {
        documents: [{ dataset_id: dataset, document_id: 'd2' }, { document_id: 'doc_00000000000000000000000000' }],
      },
    });
    assert.equal(many.status, 404, 'nothing is deleted when one of the documents is unknown');
    assert.equal(many.body.errors[0].field, 'body.documents.1');
    const documents = (await req('GET', `/v1/datasets/${dataset}/documents`)).body.data;
    assert.deepEqual(documents.map((d: any) => [d.document_id, d.status]).sort(), [
      ['d1', 'deleting'],
      ['d2', 'active'],
    ]);
  });

  it('a learned gate learns only from documents the caller may read, in a group covering theirs, and a deletion of one of them makes it stale', async () => {
    const dataset = await uploadDataset('gate-data', [
      { text: 'secret route', document_id: 's1', access_group: 'secret' },
      { text: 'open route', document_id: 'o1' },
    ]);
    const members = [{ adapter: 'alpha' }, { adapter: 'beta' }];
    // The outsider reads only o1: an ungrouped gate over it.
    const outsider = await call(gateway, 'POST', '/v1/compositions', {
      key: outsiderKey,
      body: { name: 'gate-open', method: 'learned_gate', members, params: { dataset_id: dataset } },
    });
    assert.equal(outsider.status, 201, JSON.stringify(outsider.body));
    assert.equal(outsider.body.access_group_id, null);
    const learnsFrom = async (compositionId: string) => {
      const job = (await req('GET', `/v1/compositions/${compositionId}`)).body.job_id;
      const params = await database.withTenant({ tenantId: tenant.tenant.id }, (tx) =>
        tx.job.findFirstOrThrow({ where: { id: job } }),
      );
      const ids = (params.params as { document_ids: string[] }).document_ids;
      const documents = (await req('GET', `/v1/datasets/${dataset}/documents`)).body.data as {
        id: string;
        document_id: string;
      }[];
      return ids.map((id) => documents.find((d) => d.id === id)!.document_id).sort();
    };
    assert.deepEqual(await learnsFrom(outsider.body.id), ['o1'], "never the secret group's document");
    // The admin reads both: the gate takes the secret group, and an ungrouped one is refused.
    const admin = await req('POST', '/v1/compositions', {
      body: { name: 'gate-all', method: 'learned_gate', members, params: { dataset_id: dataset } },
    });
    assert.equal(admin.status, 201, JSON.stringify(admin.body));
    assert.equal(admin.body.access_group_id, secretGroup);
    assert.deepEqual(await learnsFrom(admin.body.id), ['o1', 's1']);
    // Deleting s1 reaches the gate that learned from it (its members trained on nothing of it), not the other.
    const deletion = await req('DELETE', `/v1/datasets/${dataset}/documents/s1`);
    assert.equal(deletion.status, 202, JSON.stringify(deletion.body));
    assert.deepEqual(deletion.body.affected_versions, []);
    assert.deepEqual(deletion.body.steps[0].detail.compositions, [admin.body.id]);
    assert.equal((await req('GET', `/v1/compositions/${admin.body.id}`)).body.status, 'stale');
    assert.equal((await req('GET', `/v1/compositions/${outsider.body.id}`)).body.status, 'queued');
  });
});
