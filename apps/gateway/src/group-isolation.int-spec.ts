import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newId } from '@tessera/contracts';
import { Database } from '@tessera/db';
import { composeQueue, redisConnection, trainQueue } from '@tessera/queue';
import { peftFiles, uploadAdapter, uploadDataset } from './testing/tenant-fixtures.js';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

type OpenApi = { paths: Record<string, Record<string, { security?: unknown[] }>> };
const openapi = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8')) as OpenApi;

/**
 * How each operation treats a key restricted to group A when it names or lists group B's
 * objects (docs/access.md). Every tenant operation of openapi.json has a row: a route added
 * without one fails the matrix.
 */
type Expectation =
  /** Names a B object (in the path or the body): 404 like a missing one. */
  | { kind: 'hidden'; body?: (ids: BIds) => unknown; contentType?: string }
  /** Lists or summarises: 200, and nothing of B's in the answer. */
  | { kind: 'filtered'; also?: (body: any) => void }
  /** Only an admin may call it, and admins see every group: the scope check refuses first. */
  | { kind: 'admin-only' }
  /** Not about grouped objects (the tenant's groups, keys, webhooks, base models, dataset containers). */
  | { kind: 'tenant-level'; why: string };

interface BIds {
  adapter_id: string;
  trained_adapter_id: string;
  version: string;
  job_id: string;
  composition_id: string;
  deletion_id: string;
  dataset_id: string;
  document_id: string;
  group_id: string;
}

const MATRIX: Record<string, Expectation> = {
  'get /v1/tenant': { kind: 'tenant-level', why: 'the tenant itself' },
  'get /v1/me': { kind: 'tenant-level', why: 'the calling key' },
  'post /v1/principals': { kind: 'admin-only' },
  'get /v1/principals': { kind: 'tenant-level', why: 'principals are not grouped' },
  'get /v1/principals/{principal_id}': { kind: 'tenant-level', why: 'principals are not grouped' },
  'post /v1/api-keys': { kind: 'admin-only' },
  'get /v1/api-keys': { kind: 'admin-only' },
  'get /v1/api-keys/{api_key_id}': { kind: 'admin-only' },
  'post /v1/api-keys/{api_key_id}/revoke': { kind: 'admin-only' },
  'post /v1/groups': { kind: 'admin-only' },
  'get /v1/groups': { kind: 'tenant-level', why: 'group names are how keys are told apart; membership is admin-only' },
  'get /v1/groups/{group_id}': { kind: 'tenant-level', why: 'as the list' },
  'patch /v1/groups/{group_id}': { kind: 'admin-only' },
  'delete /v1/groups/{group_id}': { kind: 'admin-only' },
  'post /v1/groups/{group_id}/members': { kind: 'admin-only' },
  'get /v1/groups/{group_id}/members': { kind: 'tenant-level', why: 'who is in a group, not what it holds' },
  'delete /v1/groups/{group_id}/members/{membership_id}': { kind: 'admin-only' },
  'post /v1/datasets': { kind: 'tenant-level', why: 'a dataset is a container; its documents carry the groups' },
  'get /v1/datasets': { kind: 'filtered' },
  'get /v1/datasets/{dataset_id}': { kind: 'filtered' },
  'put /v1/datasets/{dataset_id}/content': {
    kind: 'tenant-level',
    why: 'a document in a group the key may not use is a line error (tested below)',
  },
  'get /v1/datasets/{dataset_id}/documents': { kind: 'filtered' },
  'delete /v1/datasets/{dataset_id}/documents/{document_id}': { kind: 'hidden' },
  'get /v1/base-models': { kind: 'tenant-level', why: 'base models are not grouped' },
  'post /v1/base-models': { kind: 'admin-only' },
  'get /v1/base-models/{base_model_id}': { kind: 'tenant-level', why: 'base models are not grouped' },
  'put /v1/base-models/{base_model_id}/tokenizer': { kind: 'admin-only' },
  'put /v1/base-models/{base_model_id}/model.safetensors': { kind: 'admin-only' },
  'put /v1/base-models/{base_model_id}/model.safetensors.index.json': { kind: 'admin-only' },
  'post /v1/base-models/{base_model_id}/complete': { kind: 'admin-only' },
  'get /v1/base-models/{base_model_id}/shards': { kind: 'admin-only' },
  'get /v1/base-models/{base_model_id}/shards/{file}': { kind: 'admin-only' },
  'put /v1/base-models/{base_model_id}/shards/{file}': { kind: 'admin-only' },
  'delete /v1/base-models/{base_model_id}/shards/{file}': { kind: 'admin-only' },
  'put /v1/base-models/{base_model_id}/shards/{file}/parts/{part_number}': { kind: 'admin-only' },
  'post /v1/base-models/{base_model_id}/shards/{file}/complete': { kind: 'admin-only' },
  'post /v1/fine-tunes': {
    kind: 'hidden',
    body: (ids) => ({
      base_model: 'tessera-demo',
      dataset_id: ids.dataset_id,
      adapter_name: 'a-new',
      access_group_id: ids.group_id,
    }),
  },
  'get /v1/fine-tunes': { kind: 'filtered' },
  'get /v1/fine-tunes/{job_id}': { kind: 'hidden' },
  'post /v1/fine-tunes/{job_id}/cancel': { kind: 'hidden' },
  'get /v1/fine-tunes/{job_id}/events': { kind: 'hidden' },
  'get /v1/fine-tunes/{job_id}/checkpoints': { kind: 'hidden' },
  'post /v1/adapters': {
    kind: 'hidden',
    body: (ids) => ({ name: 'a-into-b', base_model: 'tessera-demo', access_group_id: ids.group_id }),
  },
  'get /v1/adapters': { kind: 'filtered' },
  'patch /v1/adapters/{adapter_id}': { kind: 'hidden', body: () => ({ description: 'taken over' }) },
  'delete /v1/adapters/{adapter_id}': { kind: 'admin-only' },
  'get /v1/adapters/{adapter_id}': { kind: 'hidden' },
  'post /v1/adapters/{adapter_id}/archive': { kind: 'hidden' },
  'put /v1/adapters/{adapter_id}/versions/{version}/adapter_config.json': {
    kind: 'hidden',
    body: () => ({ peft_type: 'LORA', r: 4 }),
  },
  'get /v1/adapters/{adapter_id}/versions/{version}/adapter_config.json': { kind: 'hidden' },
  'put /v1/adapters/{adapter_id}/versions/{version}/adapter_model.safetensors': {
    kind: 'hidden',
    body: () => peftFiles(576, 9).weights,
    contentType: 'application/octet-stream',
  },
  'get /v1/adapters/{adapter_id}/versions/{version}/adapter_model.safetensors': { kind: 'hidden' },
  'get /v1/adapters/{adapter_id}/versions': { kind: 'hidden' },
  'post /v1/compositions': {
    kind: 'hidden',
    body: () => ({ name: 'a-steals', method: 'linear', members: [{ adapter: 'b-adapter' }] }),
  },
  'get /v1/compositions': { kind: 'filtered' },
  'get /v1/compositions/{composition_id}': { kind: 'hidden' },
  'post /v1/deletions': {
    kind: 'hidden',
    body: (ids) => ({ documents: [{ dataset_id: ids.dataset_id, document_id: 'b-2' }] }),
  },
  'get /v1/deletions': { kind: 'filtered' },
  'get /v1/deletions/{deletion_id}': { kind: 'hidden' },
  'post /v1/webhooks': { kind: 'admin-only' },
  'get /v1/webhooks': { kind: 'tenant-level', why: "endpoints are the tenant's, managed by admins" },
  'get /v1/webhooks/{webhook_id}': { kind: 'tenant-level', why: 'as the list' },
  'patch /v1/webhooks/{webhook_id}': { kind: 'admin-only' },
  'delete /v1/webhooks/{webhook_id}': { kind: 'admin-only' },
  'post /v1/webhooks/{webhook_id}/ping': { kind: 'admin-only' },
  'get /v1/webhooks/{webhook_id}/deliveries': {
    kind: 'tenant-level',
    why: "thin event payloads (ids only) for the tenant's receivers; see docs/access.md",
  },
  'get /v1/webhooks/{webhook_id}/deliveries/{delivery_id}': { kind: 'tenant-level', why: 'as the list' },
  'post /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver': { kind: 'admin-only' },
  'get /v1/models': { kind: 'filtered' },
  'post /v1/completions': { kind: 'hidden', body: () => ({ model: 'b-adapter', prompt: 'hello', max_tokens: 2 }) },
  'post /v1/chat/completions': {
    kind: 'hidden',
    body: () => ({ model: 'b-adapter', messages: [{ role: 'user', content: 'hello' }], max_tokens: 2 }),
  },
  'get /v1/usage': {
    kind: 'filtered',
    also: (body) =>
      assert.ok(
        !body.data.some((row: { adapter_id: string | null }) => row.adapter_id !== null),
        'only A-visible adapters have usage, and A has none',
      ),
  },
  'get /v1/queues': {
    kind: 'filtered',
    also: (body) => assert.deepEqual(body.jobs, { queued: 0, running: 0 }, "B's queued jobs are not counted as A's"),
  },
};

describe('group isolation: a key restricted to group A, against group B objects in the same tenant', () => {
  const prefix = `int-groups-${process.pid}`;
  const connection = redisConnection(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15');
  const compose = composeQueue(connection, prefix);
  const train = trainQueue(connection, prefix);
  let gateway: TestGateway;
  let dataDir: string;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let groupA: string;
  let aKey: string;
  const b = {} as BIds;
  /** Every id, name and hash of B's that A must never see. */
  const bSecrets: string[] = [];
  const admin = (method: string, url: string, options: Parameters<typeof call>[3] = {}) =>
    call(gateway, method, url, { key: tenant.adminKey, ...options });
  const asA = (method: string, url: string, options: Parameters<typeof call>[3] = {}) =>
    call(gateway, method, url, { key: aKey, ...options });

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-groups-'));
    gateway = await startTestGateway({ DATA_DIR: dataDir, QUEUE_PREFIX: prefix });
    tenant = await createTenant(gateway);
    groupA = (await admin('POST', '/v1/groups', { body: { name: 'team-a' } })).body.id;
    b.group_id = (await admin('POST', '/v1/groups', { body: { name: 'team-b' } })).body.id;
    const key = (await admin('POST', '/v1/api-keys', { body: { name: 'a writer', scopes: ['write', 'infer'] } })).body;
    assert.equal((await admin('POST', `/v1/groups/${groupA}/members`, { body: { api_key_id: key.id } })).status, 201);
    aKey = key.secret;

    // One dataset with documents of both groups and of the whole tenant; one with B's only.
    b.dataset_id = await uploadDataset(gateway, tenant.adminKey, 'mixed', [
      { text: 'a note for team a', document_id: 'a-1', access_group: 'team-a' },
      { text: 'b secret one', document_id: 'b-1', access_group: 'team-b' },
      { text: 'b secret two', document_id: 'b-2', access_group: 'team-b' },
      { text: 'open to all', document_id: 'open-1' },
    ]);
    const bOnly = await uploadDataset(gateway, tenant.adminKey, 'b-only', [
      { text: 'b secret three', document_id: 'b-3', access_group: 'team-b' },
    ]);
    b.adapter_id = await uploadAdapter(gateway, tenant.adminKey, 'b-adapter', 1, b.group_id);
    b.version = '1';
    // A fine-tune on B's documents: the new adapter takes their group. It stays queued (no worker).
    const fineTune = await admin('POST', '/v1/fine-tunes', {
      body: { base_model: 'tessera-demo', dataset_id: bOnly, adapter_name: 'b-trained' },
    });
    assert.equal(fineTune.status, 201, JSON.stringify(fineTune.body));
    b.job_id = fineTune.body.id;
    b.trained_adapter_id = fineTune.body.adapter_id;
    assert.equal(
      (await admin('GET', `/v1/adapters/${b.trained_adapter_id}`)).body.access_group_id,
      b.group_id,
      "a new adapter takes its documents' group",
    );
    const composition = await admin('POST', '/v1/compositions', {
      body: { name: 'b-blend', method: 'linear', members: [{ adapter: 'b-adapter' }], access_group_id: b.group_id },
    });
    assert.equal(composition.status, 201, JSON.stringify(composition.body));
    b.composition_id = composition.body.id;
    const deletion = await admin('DELETE', `/v1/datasets/${bOnly}/documents/b-3`);
    assert.equal(deletion.status, 202, JSON.stringify(deletion.body));
    b.deletion_id = deletion.body.id;
    b.document_id = 'b-1';
    // Usage of B's adapter, as an inference would record it.
    const database = new Database({ connectionString: process.env.TEST_DATABASE_URL!, maxConnections: 1 });
    await database.withTenant({ tenantId: tenant.tenant.id }, (tx) =>
      tx.usageRecord.create({
        data: {
          id: newId('use'),
          tenantId: tenant.tenant.id,
          adapterId: b.adapter_id,
          promptTokens: 3,
          completionTokens: 2,
        },
      }),
    );
    await database.disconnect();

    const documents = (await admin('GET', `/v1/datasets/${b.dataset_id}/documents`)).body.data.concat(
      (await admin('GET', `/v1/datasets/${bOnly}/documents`)).body.data,
    );
    const bDocuments = documents.filter((d: { access_group_id: string | null }) => d.access_group_id === b.group_id);
    assert.equal(bDocuments.length, 3);
    const versions = (await admin('GET', `/v1/adapters/${b.adapter_id}/versions`)).body.data.concat(
      (await admin('GET', `/v1/adapters/${b.trained_adapter_id}/versions`)).body.data,
    );
    bSecrets.push(
      b.adapter_id,
      b.trained_adapter_id,
      b.job_id,
      b.composition_id,
      b.deletion_id,
      'b-adapter',
      'b-trained',
      'b-blend',
      ...versions.flatMap((v: { id: string; weights_sha256: string | null }) => [
        v.id,
        ...(v.weights_sha256 ? [v.weights_sha256] : []),
      ]),
      ...bDocuments.flatMap((d: { id: string; document_id: string; content_hash: string }) => [
        d.id,
        d.document_id,
        d.content_hash,
      ]),
    );
  });
  after(async () => {
    await Promise.all([compose.obliterate({ force: true }), train.obliterate({ force: true })]);
    await Promise.all([compose.close(), train.close()]);
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('has a row for every tenant operation of openapi.json, and every row is a real operation', () => {
    const operations = Object.entries(openapi.paths).flatMap(([template, ops]) =>
      Object.entries(ops)
        // Platform routes take the platform admin key, never a tenant's.
        .filter(
          ([, op]) =>
            op.security?.length && !template.startsWith('/v1/tenants') && !template.startsWith('/v1/platform/'),
        )
        .map(([method]) => `${method} ${template}`),
    );
    const missing = operations.filter((op) => !(op in MATRIX));
    assert.deepEqual(
      missing,
      [],
      "a route without a row in the group-isolation matrix: say how it treats other groups' objects",
    );
    assert.deepEqual(
      Object.keys(MATRIX).filter((op) => !operations.includes(op)),
      [],
      'rows for routes that no longer exist',
    );
  });

  it('answers every operation as its row says: B objects are 404, lists hold nothing of B, admin routes refuse', async () => {
    const checked: string[] = [];
    for (const [operation, expectation] of Object.entries(MATRIX)) {
      if (expectation.kind === 'tenant-level') continue;
      const [method, template] = operation.split(' ') as [string, string];
      const url = template.replace(
        /\{(\w+)\}/g,
        (_, name: string) => (b as unknown as Record<string, string>)[name] ?? `missing-${name}`,
      );
      if (url.includes('missing-') && expectation.kind !== 'admin-only')
        assert.fail(`${operation}: the matrix has no B id for ${url}`);
      const body = expectation.kind === 'hidden' ? expectation.body?.(b) : undefined;
      const options =
        body instanceof Uint8Array
          ? {
              rawBody: body,
              headers: {
                'content-type':
                  expectation.kind === 'hidden' ? (expectation.contentType ?? 'application/json') : 'application/json',
              },
            }
          : body !== undefined
            ? { body }
            : method === 'post' || method === 'patch' || method === 'put'
              ? { body: {} }
              : {};
      const answer = await asA(method.toUpperCase(), url, options);
      const shown = `${operation} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`;
      if (expectation.kind === 'hidden') {
        assert.equal(answer.status, 404, shown);
        assert.equal(answer.body.type, '/problems/not-found', shown);
      } else if (expectation.kind === 'admin-only') {
        assert.equal(answer.status, 403, shown);
      } else {
        assert.equal(answer.status, 200, shown);
        const text = JSON.stringify(answer.body);
        for (const secret of bSecrets)
          assert.ok(!text.includes(secret), `${operation} shows B's ${secret}: ${text.slice(0, 300)}`);
        expectation.also?.(answer.body);
      }
      checked.push(operation);
    }
    assert.ok(checked.length >= 35, `only ${checked.length} operations checked`);
  });

  it("left B's objects as they were", async () => {
    const adapter = (await admin('GET', `/v1/adapters/${b.adapter_id}`)).body;
    assert.deepEqual(
      [adapter.status, adapter.access_group_id, adapter.description, adapter.latest_ready_version],
      ['active', b.group_id, null, 1],
    );
    assert.equal(
      (await admin('GET', `/v1/adapters/${b.adapter_id}/versions`)).body.data.length,
      1,
      'no version was added',
    );
    const job = (await admin('GET', `/v1/fine-tunes/${b.job_id}`)).body;
    assert.equal(job.status, 'queued', "A could not cancel B's fine-tune");
    assert.ok(await train.getJob(b.job_id), 'still on the queue');
    const documents = (await admin('GET', `/v1/datasets/${b.dataset_id}/documents`)).body.data as {
      document_id: string;
      status: string;
    }[];
    assert.deepEqual(documents.map((d) => [d.document_id, d.status]).sort(), [
      ['a-1', 'active'],
      ['b-1', 'active'],
      ['b-2', 'active'],
      ['open-1', 'active'],
    ]);
    assert.equal(
      (await admin('GET', '/v1/adapters')).body.data.filter((a: { name: string }) => a.name.startsWith('a-')).length,
      0,
      'A made no adapter in B',
    );
    assert.equal((await admin('GET', `/v1/compositions/${b.composition_id}`)).status, 200);
  });

  describe('the attack paths, one by one', () => {
    it("download: A cannot fetch B's trained weights or config", async () => {
      for (const file of ['adapter_model.safetensors', 'adapter_config.json']) {
        assert.equal((await asA('GET', `/v1/adapters/${b.adapter_id}/versions/1/${file}`)).status, 404);
      }
      assert.equal(
        (await admin('GET', `/v1/adapters/${b.adapter_id}/versions/1/adapter_config.json`)).status,
        200,
        'the weights are there for B',
      );
    });

    it("move: A cannot move B's adapter, cannot move its own without admin, and an admin cannot widen who uses B's data", async () => {
      assert.equal(
        (await asA('PATCH', `/v1/adapters/${b.adapter_id}`, { body: { access_group_id: groupA } })).status,
        404,
      );
      const own = await uploadAdapter(gateway, tenant.adminKey, 'a-owned', 4, groupA);
      const moved = await asA('PATCH', `/v1/adapters/${own}`, { body: { access_group_id: null } });
      assert.equal(moved.status, 403, JSON.stringify(moved.body));
      assert.equal(
        (await asA('PATCH', `/v1/adapters/${own}`, { body: { description: 'ours' } })).status,
        200,
        'A may still describe its own',
      );
      const widened = await admin('PATCH', `/v1/adapters/${b.trained_adapter_id}`, { body: { access_group_id: null } });
      assert.equal(widened.status, 409, JSON.stringify(widened.body));
      assert.match(widened.body.detail, /trained on documents of access group/);
      assert.equal((await admin('GET', `/v1/adapters/${b.trained_adapter_id}`)).body.access_group_id, b.group_id);
      // An adapter of uploaded weights (no documents) may move anywhere an admin sends it.
      assert.equal((await admin('PATCH', `/v1/adapters/${own}`, { body: { access_group_id: null } })).status, 200);
    });

    it("add version: A cannot upload to B's adapter nor fine-tune a version of it", async () => {
      assert.equal(
        (
          await asA('PUT', `/v1/adapters/${b.adapter_id}/versions/2/adapter_config.json`, {
            body: { peft_type: 'LORA', r: 4 },
          })
        ).status,
        404,
      );
      const fineTune = await asA('POST', '/v1/fine-tunes', {
        body: { base_model: 'tessera-demo', dataset_id: b.dataset_id, adapter_name: 'b-adapter' },
      });
      assert.equal(fineTune.status, 409, JSON.stringify(fineTune.body));
      assert.equal((await admin('GET', `/v1/adapters/${b.adapter_id}/versions`)).body.data.length, 1);
    });

    it("delete documents: A cannot delete B's documents, by path or by body", async () => {
      assert.equal((await asA('DELETE', `/v1/datasets/${b.dataset_id}/documents/b-1`)).status, 404);
      const internalId = bSecrets.find((s) => s.startsWith('doc_'))!;
      assert.equal(
        (await asA('POST', '/v1/deletions', { body: { documents: [{ document_id: internalId }] } })).status,
        404,
      );
      const documents = (await admin('GET', `/v1/datasets/${b.dataset_id}/documents`)).body.data as {
        document_id: string;
        status: string;
      }[];
      assert.ok(documents.filter((d) => d.document_id.startsWith('b-')).every((d) => d.status === 'active'));
    });

    it("train on another group's documents: A's fine-tune reads only the documents A may read, into an adapter of A's group", async () => {
      const fineTune = await asA('POST', '/v1/fine-tunes', {
        body: { base_model: 'tessera-demo', dataset_id: b.dataset_id, adapter_name: 'a-trained' },
      });
      assert.equal(fineTune.status, 201, JSON.stringify(fineTune.body));
      const adapter = (await asA('GET', `/v1/adapters/${fineTune.body.adapter_id}`)).body;
      assert.equal(adapter.access_group_id, groupA, "the adapter takes A's group: the document a-1 is A's");
      const version = (await asA('GET', `/v1/adapters/${adapter.id}/versions`)).body.data[0];
      assert.equal(version.document_count, 2, 'a-1 and open-1: never b-1 or b-2');
      // Ungrouped training over documents of a group would widen who uses them: refused.
      const open = await asA('POST', '/v1/adapters', { body: { name: 'a-open', base_model: 'tessera-demo' } });
      assert.equal(open.status, 201);
      const widening = await asA('POST', '/v1/fine-tunes', {
        body: { base_model: 'tessera-demo', dataset_id: b.dataset_id, adapter_name: 'a-open' },
      });
      assert.equal(widening.status, 409, JSON.stringify(widening.body));
      // An admin with documents of two groups is told to partition.
      const both = await admin('POST', '/v1/fine-tunes', {
        body: { base_model: 'tessera-demo', dataset_id: b.dataset_id, adapter_name: 'both-groups' },
      });
      assert.equal(both.status, 409, JSON.stringify(both.body));
      assert.match(both.body.detail, /partition_by/);
    });

    it("delete a document of the whole tenant: A's deletion reaches B's adapter but shows A none of B's ids", async () => {
      const open = await uploadDataset(gateway, tenant.adminKey, 'open-for-b', [
        { text: 'everyone may read this', document_id: 'open-2' },
      ]);
      const trained = await admin('POST', '/v1/fine-tunes', {
        body: {
          base_model: 'tessera-demo',
          dataset_id: open,
          adapter_name: 'b-from-open',
          access_group_id: b.group_id,
        },
      });
      assert.equal(trained.status, 201, JSON.stringify(trained.body));
      const deletion = await asA('DELETE', `/v1/datasets/${open}/documents/open-2`);
      assert.equal(deletion.status, 202, JSON.stringify(deletion.body));
      const asAdmin = (await admin('GET', `/v1/deletions/${deletion.body.id}`)).body;
      assert.deepEqual(asAdmin.affected_versions, [trained.body.adapter_version_id], "the erasure reaches B's version");
      for (const answer of [deletion.body, (await asA('GET', `/v1/deletions/${deletion.body.id}`)).body]) {
        assert.deepEqual(answer.affected_versions, [], "A is not shown which of B's versions it reached");
        assert.ok(
          !JSON.stringify(answer).includes(trained.body.adapter_id) &&
            !JSON.stringify(answer).includes(trained.body.adapter_version_id),
        );
      }
    });

    it("upload: A cannot file documents under B's group", async () => {
      const dataset = (await asA('POST', '/v1/datasets', { body: { name: 'a-upload', format: 'text' } })).body.id;
      const put = await asA('PUT', `/v1/datasets/${dataset}/content`, {
        rawBody: JSON.stringify({ text: 'x', document_id: 'x', access_group: 'team-b' }),
        headers: { 'content-type': 'application/x-ndjson' },
      });
      assert.equal(put.status, 400, JSON.stringify(put.body));
      assert.match(JSON.stringify(put.body.errors), /team-b/);
    });
  });
});
