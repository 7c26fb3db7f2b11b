import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

type OpenApi = { paths: Record<string, Record<string, { security?: unknown[]; requestBody?: unknown }>> };
const openapi = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8')) as OpenApi;

describe('tenant isolation', () => {
  let gateway: TestGateway;
  let a: Awaited<ReturnType<typeof createTenant>>;
  let b: Awaited<ReturnType<typeof createTenant>>;
  const bIds: Record<string, string> = {};

  before(async () => {
    gateway = await startTestGateway({ QUEUE_PREFIX: `isolation-${process.pid}` });
    a = await createTenant(gateway, 'tenant A');
    b = await createTenant(gateway, 'tenant B');
    const group = await call(gateway, 'POST', '/v1/groups', { key: b.adminKey, body: { name: 'b-secret' } });
    const principal = await call(gateway, 'POST', '/v1/principals', {
      key: b.adminKey,
      body: { kind: 'user', name: 'bob' },
    });
    const key = await call(gateway, 'POST', '/v1/api-keys', {
      key: b.adminKey,
      body: { name: 'b read', scopes: ['read'] },
    });
    const membership = await call(gateway, 'POST', `/v1/groups/${group.body.id}/members`, {
      key: b.adminKey,
      body: { principal_id: principal.body.id },
    });
    const dataset = await call(gateway, 'POST', '/v1/datasets', {
      key: b.adminKey,
      body: { name: 'b data', format: 'text' },
    });
    await call(gateway, 'PUT', `/v1/datasets/${dataset.body.id}/content`, {
      key: b.adminKey,
      rawBody: '{"text":"b only"}\n',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    // Queued under its own prefix, where no worker looks: it stays queued.
    const fineTune = await call(gateway, 'POST', '/v1/fine-tunes', {
      key: b.adminKey,
      body: { base_model: 'tessera-demo', dataset_id: dataset.body.id, adapter_name: 'b-adapter' },
    });
    // A knowledge base (a composition), then a deletion of the dataset's one document.
    await call(gateway, 'POST', '/v1/fine-tunes', {
      key: b.adminKey,
      body: {
        base_model: 'tessera-demo',
        dataset_id: dataset.body.id,
        adapter_name: 'b-kb',
        partition_by: 'access_group',
      },
    });
    const composition = (await call(gateway, 'GET', '/v1/compositions', { key: b.adminKey })).body.data[0];
    const deletion = await call(gateway, 'DELETE', `/v1/datasets/${dataset.body.id}/documents/line-1`, {
      key: b.adminKey,
    });
    // A public address: accepted without allowing private ones. Nothing delivers here (no worker).
    const webhook = await call(gateway, 'POST', '/v1/webhooks', {
      key: b.adminKey,
      body: { url: 'https://93.184.216.34/hooks' },
    });
    const ping = await call(gateway, 'POST', `/v1/webhooks/${webhook.body.id}/ping`, { key: b.adminKey });
    const baseModel = await call(gateway, 'POST', '/v1/base-models', {
      key: b.adminKey,
      body: {
        name: 'b-model',
        config: { model_type: 'gpt2', vocab_size: 257, n_embd: 16, n_layer: 1, n_head: 2, n_positions: 16 },
      },
    });
    Object.assign(bIds, {
      webhook_id: webhook.body.id,
      delivery_id: ping.body.id,
      dataset_id: dataset.body.id,
      base_model_id: baseModel.body.id,
      file: 'model.safetensors',
      part_number: '1',
      job_id: fineTune.body.id,
      adapter_id: fineTune.body.adapter_id,
      version: '1',
      group_id: group.body.id,
      principal_id: principal.body.id,
      api_key_id: key.body.id,
      membership_id: membership.body.id,
      tenant_id: b.tenant.id,
      composition_id: composition.id,
      deletion_id: deletion.body.id,
      document_id: 'line-1',
    });
  });
  after(() => gateway.close());

  // Bodies valid for A, so the only thing wrong with each request is whose resource it names.
  const validBodies: Record<string, unknown> = {
    'patch /v1/groups/{group_id}': { description: 'taken over' },
    'patch /v1/webhooks/{webhook_id}': { enabled: false },
    'patch /v1/adapters/{adapter_id}': { description: 'taken over' },
    'put /v1/adapters/{adapter_id}/versions/{version}/adapter_config.json': { peft_type: 'LORA', r: 4 },
    'put /v1/base-models/{base_model_id}/tokenizer': { tokenizer: { model: { type: 'WordLevel', vocab: {} } } },
    'put /v1/base-models/{base_model_id}/model.safetensors.index.json': {
      weight_map: { 'wte.weight': 'model.safetensors' },
    },
    'put /v1/base-models/{base_model_id}/shards/{file}': { size: 1, sha256: '0'.repeat(64) },
  };

  it("answers 404 to tenant A's admin key for every route on every tenant B resource", async () => {
    validBodies['post /v1/groups/{group_id}/members'] = { principal_id: a.principal.id };
    const checked: string[] = [];
    for (const [template, operations] of Object.entries(openapi.paths)) {
      if (!template.includes('{') || template.startsWith('/v1/tenants/')) continue; // platform routes take no tenant key
      for (const method of Object.keys(operations)) {
        const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
          const id = bIds[name];
          assert.ok(id, `the matrix has no tenant B id for {${name}}: add one when adding a resource`);
          return id;
        });
        const body = validBodies[`${method} ${template}`];
        const result = await call(gateway, method.toUpperCase(), path, { key: a.adminKey, ...(body ? { body } : {}) });
        assert.equal(
          result.status,
          404,
          `${method.toUpperCase()} ${template} answered ${result.status}: ${JSON.stringify(result.body)}`,
        );
        assert.equal(result.body.type, '/problems/not-found');
        checked.push(`${method} ${template}`);
      }
    }
    assert.ok(checked.length >= 8, `only ${checked.length} routes checked`);
  });

  it("left tenant B's resources as they were", async () => {
    const group = await call(gateway, 'GET', `/v1/groups/${bIds.group_id}`, { key: b.adminKey });
    assert.equal(group.status, 200);
    assert.equal(group.body.description, null);
    const key = await call(gateway, 'GET', `/v1/api-keys/${bIds.api_key_id}`, { key: b.adminKey });
    assert.equal(key.body.revoked_at, null);
    const members = await call(gateway, 'GET', `/v1/groups/${bIds.group_id}/members`, { key: b.adminKey });
    assert.equal(members.body.data.length, 1);
    const webhook = await call(gateway, 'GET', `/v1/webhooks/${bIds.webhook_id}`, { key: b.adminKey });
    assert.equal(webhook.body.enabled, true);
    assert.equal(webhook.body.url, 'https://93.184.216.34/hooks');
    const job = await call(gateway, 'GET', `/v1/fine-tunes/${bIds.job_id}`, { key: b.adminKey });
    assert.equal(job.body.status, 'queued', "A could not cancel B's fine-tune");
    const model = await call(gateway, 'GET', `/v1/base-models/${bIds.base_model_id}`, { key: b.adminKey });
    assert.deepEqual([model.body.status, model.body.has_tokenizer], ['uploading', false]);
  });

  it("will not link tenant B's principal or key into tenant A's group", async () => {
    const group = await call(gateway, 'POST', '/v1/groups', { key: a.adminKey, body: { name: 'a-team' } });
    for (const body of [{ principal_id: bIds.principal_id }, { api_key_id: bIds.api_key_id }]) {
      const result = await call(gateway, 'POST', `/v1/groups/${group.body.id}/members`, { key: a.adminKey, body });
      assert.equal(result.status, 404);
    }
    const owned = await call(gateway, 'POST', '/v1/api-keys', {
      key: a.adminKey,
      body: { name: 'for bob', scopes: ['read'], principal_id: bIds.principal_id },
    });
    assert.equal(owned.status, 404);
  });

  it("lists only the caller's own rows", async () => {
    for (const path of ['/v1/groups', '/v1/principals', '/v1/api-keys', '/v1/base-models']) {
      const list = await call(gateway, 'GET', `${path}?limit=100`, { key: a.adminKey });
      assert.equal(list.status, 200);
      const ids = (list.body.data as { id: string }[]).map((item) => item.id);
      assert.ok(!ids.some((id) => Object.values(bIds).includes(id)), `${path} leaked a tenant B id`);
    }
    const tenant = await call(gateway, 'GET', '/v1/tenant', { key: a.adminKey });
    assert.equal(tenant.body.id, a.tenant.id);
  });
});
