import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bpeTokenizerJson, randomWeights, TINY_LLAMA, writeHfCheckpoint, type LoraAdapter } from '@tessera/engine';
import { writePeftAdapter } from '@tessera/engine/formats';
import { composeQueue, redisConnection, TRAIN_JOB_OPTIONS } from '@tessera/queue';
import pg from 'pg';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

/** A tenant's second base model, small enough to register in a test. */
const tinyLlama = TINY_LLAMA;

/** A rank-4 adapter on one projection, as PEFT writes it: `h.0.attn.c_attn` (192 → 576) of the demo model, or `layers.0.self_attn.q_proj` (32 → 32) of tiny-llama. */
function peftFiles(
  seed: number,
  module: { key: string; dIn: number; dOut: number } = { key: 'h.0.attn.c_attn', dIn: 192, dOut: 576 },
  baseModel = 'tessera-demo',
) {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31), state / 2 ** 31 - 0.5);
  const factors = new Map([
    [
      module.key,
      {
        a: Float32Array.from({ length: module.dIn * 4 }, random),
        b: Float32Array.from({ length: 4 * module.dOut }, random),
      },
    ],
  ]);
  return writePeftAdapter(
    {
      rank: 4,
      alpha: 8,
      targetModules: [module.key.replace(/^[a-z]+\.\d+\./, '') as LoraAdapter['targetModules'][number]],
      factors,
    },
    baseModel,
  );
}

describe('compositions (gateway side: no worker runs here)', () => {
  const prefix = `int-compositions-${process.pid}`;
  const queue = composeQueue(redisConnection(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15'), prefix);
  const owner = new pg.Client({ connectionString: process.env.TEST_OWNER_DATABASE_URL });
  let gateway: TestGateway;
  /** A composition in no group over an adapter of the secret group: only keys that may use every member see it. */
  let withHiddenMember: string;
  let dataDir: string;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let secretGroup: string;
  /** A write key in the secret group, and one in no group. */
  let insiderKey: string;
  let outsiderKey: string;
  let datasetId: string;

  const post = (body: unknown, key = tenant.adminKey, headers: Record<string, string> = {}) =>
    call(gateway, 'POST', '/v1/compositions', { key, body, headers });
  const admin = (method: string, url: string, options: Parameters<typeof call>[3] = {}) =>
    call(gateway, method, url, { key: tenant.adminKey, ...options });

  async function adapterWithReadyVersion(
    name: string,
    seed: number,
    options: { group?: string; baseModel?: string; files?: ReturnType<typeof peftFiles> } = {},
  ) {
    const created = await admin('POST', '/v1/adapters', {
      body: {
        name,
        base_model: options.baseModel ?? 'tessera-demo',
        ...(options.group ? { access_group_id: options.group } : {}),
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const files = options.files ?? peftFiles(seed);
    assert.equal(
      (await admin('PUT', `/v1/adapters/${created.body.id}/versions/1/adapter_config.json`, { body: files.config }))
        .status,
      200,
    );
    const put = await fetch(`${gateway.url}/v1/adapters/${created.body.id}/versions/1/adapter_model.safetensors`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tenant.adminKey}`, 'content-type': 'application/octet-stream' },
      body: files.weights,
    });
    assert.equal(put.status, 200, await put.text());
    return created.body.id as string;
  }

  async function writeKey(name: string) {
    const key = await admin('POST', '/v1/api-keys', { body: { name, scopes: ['write'] } });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    return { id: key.body.id as string, secret: key.body.secret as string };
  }

  /** tiny-llama registered, tokenized and weighted, with one ready adapter on it. */
  async function adapterOnAnotherBaseModel() {
    const checkpoint = path.join(dataDir, 'checkpoint');
    await writeHfCheckpoint(checkpoint, tinyLlama, randomWeights(tinyLlama, 5));
    const registered = await admin('POST', '/v1/base-models', {
      body: { name: 'tiny-llama', config: JSON.parse(await readFile(path.join(checkpoint, 'config.json'), 'utf8')) },
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    assert.equal(
      (
        await admin('PUT', `/v1/base-models/${registered.body.id}/tokenizer`, {
          body: { tokenizer: bpeTokenizerJson(), tokenizer_config: { eos_token: '<|endoftext|>' } },
        })
      ).status,
      200,
    );
    const weights = await fetch(`${gateway.url}/v1/base-models/${registered.body.id}/model.safetensors`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tenant.adminKey}`, 'content-type': 'application/octet-stream' },
      body: await readFile(path.join(checkpoint, 'model.safetensors')),
    });
    assert.equal(weights.status, 200, await weights.text());
    await adapterWithReadyVersion('llama-side', 9, {
      baseModel: 'tiny-llama',
      files: peftFiles(9, { key: 'layers.0.self_attn.q_proj', dIn: 32, dOut: 32 }, 'tiny-llama'),
    });
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-compositions-'));
    gateway = await startTestGateway({ DATA_DIR: dataDir, QUEUE_PREFIX: prefix });
    await owner.connect();
    tenant = await createTenant(gateway);
    secretGroup = (await admin('POST', '/v1/groups', { body: { name: 'secret' } })).body.id;
    const insider = await writeKey('insider');
    assert.equal(
      (await admin('POST', `/v1/groups/${secretGroup}/members`, { body: { api_key_id: insider.id } })).status,
      201,
    );
    insiderKey = insider.secret;
    outsiderKey = (await writeKey('outsider')).secret;
    await adapterWithReadyVersion('alpha', 1);
    await adapterWithReadyVersion('beta', 2);
    await adapterWithReadyVersion('hidden', 3, { group: secretGroup });
    // An adapter whose only version has no weights yet: nothing ready to pin.
    assert.equal(
      (await admin('POST', '/v1/adapters', { body: { name: 'unfinished', base_model: 'tessera-demo' } })).status,
      201,
    );
    datasetId = (await admin('POST', '/v1/datasets', { body: { name: 'routing-data', format: 'text' } })).body.id;
    const content = await admin('PUT', `/v1/datasets/${datasetId}/content`, {
      rawBody: '{"text":"route me"}\n',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    assert.equal(content.status, 200, JSON.stringify(content.body));
  });
  after(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await owner.end();
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a linear composition of two adapters is 201 and queued, its members pinned to their versions, with a compose job in Postgres and waiting on the compose queue', async () => {
    const created = await post({
      name: 'support-blend',
      method: 'linear',
      members: [{ adapter: 'alpha', weight: 0.25 }, { adapter: 'beta@1' }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const composition = created.body;
    assert.match(composition.id, /^cmp_/);
    assert.equal(composition.object, 'composition');
    assert.equal(composition.name, 'support-blend');
    assert.equal(composition.version, 1);
    assert.equal(composition.method, 'linear');
    assert.equal(composition.status, 'queued');
    assert.equal(composition.access_group_id, null);
    assert.equal(composition.error, null);
    assert.match(composition.job_id, /^job_/);
    assert.ok(!Number.isNaN(Date.parse(composition.created_at)) && !Number.isNaN(Date.parse(composition.updated_at)));
    assert.deepEqual(composition.members.map((m: any) => [m.adapter, m.version, m.weight]).sort(), [
      ['alpha', 1, 0.25],
      ['beta', 1, 1],
    ]);
    assert.ok(composition.members.every((m: any) => /^ad_/.test(m.adapter_id)));

    const { rows } = await owner.query(
      'SELECT kind, status, composition_id, base_model_id, dataset_id, tenant_id FROM jobs WHERE id = $1',
      [composition.job_id],
    );
    assert.deepEqual(rows, [
      {
        kind: 'compose',
        status: 'queued',
        composition_id: composition.id,
        base_model_id: composition.base_model_id,
        dataset_id: null,
        tenant_id: tenant.tenant.id,
      },
    ]);
    const pinned = await owner.query(
      'SELECT m.adapter_id, v.version, v.status FROM composition_members m JOIN adapter_versions v ON v.id = m.adapter_version_id WHERE m.composition_id = $1 ORDER BY m.adapter_id',
      [composition.id],
    );
    assert.deepEqual(
      pinned.rows.map((r) => [r.version, r.status]),
      [
        [1, 'ready'],
        [1, 'ready'],
      ],
    );

    const job = await queue.getJob(composition.job_id);
    assert.ok(job, 'the compose job is on the queue under its job id');
    assert.equal(job.name, 'compose');
    assert.equal(await job.getState(), 'waiting');
    assert.deepEqual(job.data, {
      jobId: composition.job_id,
      tenantId: tenant.tenant.id,
      compositionId: composition.id,
    });
    assert.equal(job.opts.attempts, TRAIN_JOB_OPTIONS.attempts);
  });

  it('a second POST with the same name makes version 2; the same Idempotency-Key and body replays instead', async () => {
    const second = await post({
      name: 'support-blend',
      method: 'ties',
      members: [{ adapter: 'alpha' }, { adapter: 'beta' }],
      params: { density: 0.5, majority_sign_method: 'frequency' },
    });
    assert.equal(second.status, 201, JSON.stringify(second.body));
    assert.equal(second.body.version, 2);
    assert.deepEqual(second.body.params, { density: 0.5, majority_sign_method: 'frequency' });

    const headers = { 'idempotency-key': 'compose-once' };
    const body = { name: 'replayed', method: 'cat', members: [{ adapter: 'alpha' }] };
    const first = await post(body, tenant.adminKey, headers);
    const replay = await post(body, tenant.adminKey, headers);
    assert.equal(first.status, 201);
    assert.deepEqual(replay.body, first.body);
    const { rows } = await owner.query(
      "SELECT count(*)::int AS n FROM compositions WHERE tenant_id = $1 AND name = 'replayed'",
      [tenant.tenant.id],
    );
    assert.equal(rows[0].n, 1);
  });

  it('an unknown adapter and an adapter in a group the key lacks are the same 404, and nothing is created', async () => {
    const before = await owner.query('SELECT count(*)::int AS n FROM compositions WHERE tenant_id = $1', [
      tenant.tenant.id,
    ]);
    const unknown = await post(
      { name: 'leak-check', method: 'linear', members: [{ adapter: 'alpha' }, { adapter: 'ghost' }] },
      outsiderKey,
    );
    const hidden = await post(
      { name: 'leak-check', method: 'linear', members: [{ adapter: 'alpha' }, { adapter: 'hidden' }] },
      outsiderKey,
    );
    assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
    assert.equal(hidden.status, 404, JSON.stringify(hidden.body));
    assert.equal(hidden.headers.get('content-type'), unknown.headers.get('content-type'));
    assert.match(unknown.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(hidden.body.type, unknown.body.type);
    assert.equal(hidden.body.title, unknown.body.title);
    assert.equal(hidden.body.detail, unknown.body.detail.replace('ghost', 'hidden'));
    assert.deepEqual(Object.keys(hidden.body).sort(), Object.keys(unknown.body).sort());
    const after = await owner.query('SELECT count(*)::int AS n FROM compositions WHERE tenant_id = $1', [
      tenant.tenant.id,
    ]);
    assert.equal(after.rows[0].n, before.rows[0].n);

    // The key in the group may compose it.
    const allowed = await post(
      { name: 'with-hidden', method: 'linear', members: [{ adapter: 'alpha' }, { adapter: 'hidden' }] },
      insiderKey,
    );
    assert.equal(allowed.status, 201, JSON.stringify(allowed.body));
    withHiddenMember = allowed.body.id;
    assert.equal(
      (await call(gateway, 'GET', `/v1/compositions/${withHiddenMember}`, { key: outsiderKey })).status,
      404,
      "its merge carries the secret group's data",
    );
  });

  it('an adapter with no ready version, or a version that is not there, is refused naming it', async () => {
    const unfinished = await post({ name: 'too-early', method: 'linear', members: [{ adapter: 'unfinished' }] });
    assert.ok(unfinished.status === 404 || unfinished.status === 409, `${unfinished.status}`);
    assert.match(unfinished.body.detail, /unfinished has no ready version/);
    const missingVersion = await post({ name: 'too-early', method: 'linear', members: [{ adapter: 'alpha@7' }] });
    assert.ok(missingVersion.status === 404 || missingVersion.status === 409, `${missingVersion.status}`);
    assert.match(missingVersion.body.detail, /alpha has no ready version 7/);
  });

  it('members on two base models are a 400 naming body.members', async () => {
    await adapterOnAnotherBaseModel();
    const mixed = await post({
      name: 'two-bases',
      method: 'linear',
      members: [{ adapter: 'alpha' }, { adapter: 'llama-side' }],
    });
    assert.equal(mixed.status, 400, JSON.stringify(mixed.body));
    assert.equal(mixed.body.errors[0].field, 'body.members');
  });

  it('learned_gate needs two members and a dataset of the tenant; other methods take no dataset', async () => {
    const noDataset = await post({
      name: 'gate',
      method: 'learned_gate',
      members: [{ adapter: 'alpha' }, { adapter: 'beta' }],
    });
    assert.equal(noDataset.status, 400);
    assert.deepEqual(
      noDataset.body.errors.map((e: any) => e.field),
      ['body.params.dataset_id'],
    );
    const oneMember = await post({
      name: 'gate',
      method: 'learned_gate',
      members: [{ adapter: 'alpha' }],
      params: { dataset_id: datasetId },
    });
    assert.equal(oneMember.status, 400);
    assert.equal(oneMember.body.errors[0].field, 'body.members');
    const unknownDataset = await post({
      name: 'gate',
      method: 'learned_gate',
      members: [{ adapter: 'alpha' }, { adapter: 'beta' }],
      params: { dataset_id: 'ds_00000000000000000000000000' },
    });
    assert.equal(unknownDataset.status, 404, JSON.stringify(unknownDataset.body));
    const onMerge = await post({
      name: 'merge',
      method: 'linear',
      members: [{ adapter: 'alpha' }],
      params: { dataset_id: datasetId },
    });
    assert.equal(onMerge.status, 400);
    assert.equal(onMerge.body.errors[0].field, 'body.params.dataset_id');

    const gate = await post({
      name: 'gate',
      method: 'learned_gate',
      members: [{ adapter: 'alpha' }, { adapter: 'beta' }],
      params: { dataset_id: datasetId, max_steps: 20, learning_rate: 0.05, seed: 3 },
    });
    assert.equal(gate.status, 201, JSON.stringify(gate.body));
    const { rows } = await owner.query('SELECT kind, dataset_id FROM jobs WHERE id = $1', [gate.body.job_id]);
    assert.deepEqual(rows, [{ kind: 'compose', dataset_id: datasetId }]);
  });

  it('bad input is a problem+json 400 naming the field, never a 5xx', async () => {
    const member = [{ adapter: 'alpha' }];
    const cases: [unknown, string][] = [
      [{ name: 'x', method: 'ties', members: member, params: { density: 0 } }, 'body.params.density'],
      [{ name: 'x', method: 'ties', members: member, params: { density: 1.5 } }, 'body.params.density'],
      [{ name: 'x', method: 'dare_linear', members: member, params: { seed: -1 } }, 'body.params.seed'],
      [
        { name: 'x', method: 'ties', members: member, params: { majority_sign_method: 'mean' } },
        'body.params.majority_sign_method',
      ],
      [
        {
          name: 'x',
          method: 'learned_gate',
          members: [...member, { adapter: 'beta' }],
          params: { dataset_id: datasetId, max_steps: 2001 },
        },
        'body.params.max_steps',
      ],
      [
        {
          name: 'x',
          method: 'learned_gate',
          members: [...member, { adapter: 'beta' }],
          params: { dataset_id: datasetId, learning_rate: 0 },
        },
        'body.params.learning_rate',
      ],
      [{ name: 'x', method: 'average', members: member }, 'body.method'],
      [{ name: 'Not A Name', method: 'linear', members: member }, 'body.name'],
      [{ name: 'x', method: 'linear', members: [] }, 'body.members'],
      [
        { name: 'x', method: 'linear', members: Array.from({ length: 17 }, () => ({ adapter: 'alpha' })) },
        'body.members',
      ],
      [{ name: 'x', method: 'linear', members: [{ adapter: 'alpha', weight: 10.5 }] }, 'body.members.0.weight'],
      [{ name: 'x', method: 'linear', members: [{ adapter: 'alpha', weight: '1' }] }, 'body.members.0.weight'],
      [{ name: 'x', method: 'linear', members: [{ adapter: 'alpha' }, { adapter: 'alpha@1' }] }, 'body.members'],
      [{ name: 'x', method: 'linear', members: member, access_group_id: 'not-an-id' }, 'body.access_group_id'],
      // A version beyond any Postgres integer: refused before it reaches the database.
      [{ name: 'x', method: 'linear', members: [{ adapter: 'alpha@99999999999999999999' }] }, 'body.members.0.adapter'],
    ];
    for (const [body, field] of cases) {
      const refused = await post(body);
      assert.equal(refused.status, 400, `${JSON.stringify(body)} → ${refused.status} ${JSON.stringify(refused.body)}`);
      assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.ok(
        refused.body.errors.some((e: any) => e.field === field),
        `${JSON.stringify(body)} names ${field}: ${JSON.stringify(refused.body.errors)}`,
      );
    }
  });

  it('GET lists (cursor pagination) and gets by id; a composition in a group the caller lacks is a 404 to that caller', async () => {
    const gated = await post(
      { name: 'secret-blend', method: 'linear', members: [{ adapter: 'hidden' }], access_group_id: secretGroup },
      insiderKey,
    );
    assert.equal(gated.status, 201, JSON.stringify(gated.body));
    assert.equal(gated.body.access_group_id, secretGroup);

    assert.deepEqual(
      (await call(gateway, 'GET', `/v1/compositions/${gated.body.id}`, { key: insiderKey })).body,
      gated.body,
    );
    const hidden = await call(gateway, 'GET', `/v1/compositions/${gated.body.id}`, { key: outsiderKey });
    const unknown = await call(gateway, 'GET', '/v1/compositions/cmp_00000000000000000000000000', { key: outsiderKey });
    assert.deepEqual([hidden.status, unknown.status], [404, 404]);
    assert.equal(hidden.body.type, unknown.body.type);
    assert.equal(hidden.body.title, unknown.body.title);
    assert.equal((await call(gateway, 'GET', '/v1/compositions/not-an-id', { key: outsiderKey })).status, 400);

    const walk = async (key: string) => {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await call(gateway, 'GET', `/v1/compositions?limit=2${cursor ? `&after=${cursor}` : ''}`, { key });
        assert.equal(page.status, 200, JSON.stringify(page.body));
        assert.ok(page.body.data.length <= 2);
        seen.push(...page.body.data.map((c: { id: string }) => c.id));
        if (!page.body.has_more) return seen;
        cursor = seen.at(-1);
      }
    };
    const insiderSees = await walk(insiderKey);
    const outsiderSees = await walk(outsiderKey);
    assert.deepEqual(insiderSees, [...insiderSees].sort(), 'in creation (id) order');
    assert.ok(insiderSees.includes(gated.body.id));
    assert.ok(!outsiderSees.includes(gated.body.id));
    assert.deepEqual(
      outsiderSees,
      insiderSees.filter((id) => id !== gated.body.id && id !== withHiddenMember),
    );
    const { rows } = await owner.query('SELECT count(*)::int AS n FROM compositions WHERE tenant_id = $1', [
      tenant.tenant.id,
    ]);
    assert.equal(insiderSees.length, rows[0].n);
    assert.equal((await call(gateway, 'GET', '/v1/compositions?limit=0', { key: insiderKey })).status, 400);

    const other = await createTenant(gateway);
    assert.deepEqual((await call(gateway, 'GET', '/v1/compositions', { key: other.adminKey })).body, {
      data: [],
      has_more: false,
    });
    assert.equal(
      (await call(gateway, 'GET', `/v1/compositions/${gated.body.id}`, { key: other.adminKey })).status,
      404,
    );
  });
});
