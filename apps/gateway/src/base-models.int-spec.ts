import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bpeTokenizerJson, randomWeights, TINY_LLAMA, writeHfCheckpoint } from '@tessera/engine';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

const llama = TINY_LLAMA;

describe('base models: importing a Hugging Face checkpoint (config, tokenizer, weights checked against each other)', () => {
  let gateway: TestGateway;
  let dataDir: string;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let files: { config: Record<string, unknown>; weights: Buffer };
  const req = (method: string, url: string, options: Parameters<typeof call>[3] = {}) =>
    call(gateway, method, url, { key: tenant.adminKey, ...options });
  const putWeights = (id: string, bytes: Uint8Array, key = tenant.adminKey) =>
    fetch(`${gateway.url}/v1/base-models/${id}/model.safetensors`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream' },
      body: bytes,
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
  const blobExists = (bytes: Uint8Array) =>
    existsSync(
      path.join(
        dataDir,
        'blobs',
        tenant.tenant.id,
        ...((h) => [h.slice(0, 2), h])(createHash('sha256').update(bytes).digest('hex')),
      ),
    );

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-base-models-'));
    const checkpoint = path.join(dataDir, 'checkpoint');
    await writeHfCheckpoint(checkpoint, llama, randomWeights(llama, 5));
    files = {
      config: JSON.parse(await readFile(path.join(checkpoint, 'config.json'), 'utf8')),
      weights: await readFile(path.join(checkpoint, 'model.safetensors')),
    };
    gateway = await startTestGateway({ DATA_DIR: dataDir });
    tenant = await createTenant(gateway);
  });
  after(async () => {
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('registers config.json, takes the tokenizer and weights, and is then ready for fine-tunes', async () => {
    const registered = await req('POST', '/v1/base-models', { body: { name: 'tiny-llama', config: files.config } });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    assert.equal(registered.body.status, 'uploading');
    assert.equal(registered.body.owner, 'tenant');
    assert.equal(registered.body.architecture, 'llama');
    const id = registered.body.id;
    // Not usable until its weights arrive.
    const early = await req('POST', '/v1/adapters', { body: { name: 'too-early', base_model: 'tiny-llama' } });
    assert.equal(early.status, 409);
    assert.match(early.body.detail, /no weights yet/);

    const tokenizer = await req('PUT', `/v1/base-models/${id}/tokenizer`, {
      body: { tokenizer: bpeTokenizerJson(), tokenizer_config: { eos_token: '<|endoftext|>' } },
    });
    assert.equal(tokenizer.status, 200, JSON.stringify(tokenizer.body));
    assert.equal(tokenizer.body.has_tokenizer, true);

    const ready = await putWeights(id, files.weights);
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.status, 'ready');
    assert.ok(blobExists(files.weights));
    const listed = (await req('GET', '/v1/base-models')).body.data.map((m: any) => [m.name, m.owner, m.status]);
    assert.deepEqual(listed.sort(), [
      ['tessera-demo', 'platform', 'ready'],
      ['tiny-llama', 'tenant', 'ready'],
    ]);
    assert.equal(
      (await req('POST', '/v1/adapters', { body: { name: 'on-tiny', base_model: 'tiny-llama' } })).status,
      201,
    );
    // A ready model's files no longer change.
    assert.equal((await putWeights(id, files.weights)).status, 409);
    // Other tenants neither see nor touch it.
    const other = await createTenant(gateway);
    assert.equal((await call(gateway, 'GET', `/v1/base-models/${id}`, { key: other.adminKey })).status, 404);
    assert.equal((await putWeights(id, files.weights, other.adminKey)).status, 404);
  });

  it('refuses what does not fit, naming the problem, and keeps nothing', async () => {
    const unsupported = await req('POST', '/v1/base-models', {
      body: { name: 'bert', config: { model_type: 'bert', vocab_size: 10 } },
    });
    assert.equal(unsupported.status, 400);
    assert.equal(unsupported.body.errors[0].field, 'config');
    assert.match(unsupported.body.errors[0].message, /model_type "bert" is not supported/);

    // The same weights under a config with a wider model: every mismatching tensor is named.
    const wider = { ...files.config, hidden_size: 64, name_or_path: 'wider' };
    const registered = (await req('POST', '/v1/base-models', { body: { name: 'wider', config: wider } })).body;
    const refused = await putWeights(registered.id, files.weights);
    assert.equal(refused.status, 400);
    assert.match(
      refused.body.errors.map((e: any) => e.message).join('\n'),
      /embed_tokens\.weight: shape \[262,32\], expected \[262,64\]/,
    );
    assert.equal((await req('GET', `/v1/base-models/${registered.id}`)).body.status, 'uploading');
    const garbage = new TextEncoder().encode('not a safetensors file at all');
    assert.equal((await putWeights(registered.id, garbage)).status, 400);
    assert.equal(blobExists(garbage), false);

    const badTokenizer = await req('PUT', `/v1/base-models/${registered.id}/tokenizer`, {
      body: { tokenizer: bpeTokenizerJson(), tokenizer_config: { eos_token: '</s>' } },
    });
    assert.equal(badTokenizer.status, 400);
    assert.match(badTokenizer.body.errors[0].message, /eos_token "<\/s>" is not in the vocabulary/);
    const notOctets = await req('PUT', `/v1/base-models/${registered.id}/model.safetensors`, { body: { weights: [] } });
    assert.equal(notOctets.status, 415);
    // The platform's model is not the tenant's to change.
    assert.equal((await putWeights('bm_00000000000000000000000001', files.weights)).status, 409);
  });

  it('refuses a chat template that loops, balloons or does not parse, and keeps nothing; takes a working one', async () => {
    const registered = (await req('POST', '/v1/base-models', { body: { name: 'templated', config: files.config } }))
      .body;
    const putTemplate = (chatTemplate: string) =>
      req('PUT', `/v1/base-models/${registered.id}/tokenizer`, {
        body: {
          tokenizer: bpeTokenizerJson(),
          tokenizer_config: { eos_token: '<|endoftext|>', chat_template: chatTemplate },
        },
      });
    const storedBlobs = async () =>
      (await readdir(path.join(dataDir, 'blobs', tenant.tenant.id), { recursive: true }).catch(() => [])).length;
    const listedBefore = (await req('GET', '/v1/base-models')).body;
    const blobsBefore = await storedBlobs();

    const refused: [string, RegExp][] = [
      [
        '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}',
        /longer than the limit of 200 ms/,
      ],
      [
        "{% set ns = namespace(s='abc') %}{% for i in range(27) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        /grew past the limit of 1048576 characters/,
      ],
      ['{% for message in %}{% endfor %}', /does not parse/],
      ['x'.repeat(70_000), /over the limit of 65536/],
    ];
    for (const [chatTemplate, reason] of refused) {
      const started = Date.now();
      const response = await putTemplate(chatTemplate);
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.equal(response.body.type, '/problems/validation');
      assert.equal(response.body.errors[0].field, 'tokenizer_config.chat_template');
      assert.match(response.body.errors[0].message, /^chat_template: /);
      assert.match(response.body.errors[0].message, reason);
      assert.ok(Date.now() - started < 2000, 'the gateway answers at once');
    }
    assert.deepEqual((await req('GET', '/v1/base-models')).body, listedBefore);
    assert.equal((await req('GET', `/v1/base-models/${registered.id}`)).body.has_tokenizer, false);
    assert.equal(await storedBlobs(), blobsBefore);

    const working = await putTemplate(
      "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + eos_token }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}",
    );
    assert.equal(working.status, 200, JSON.stringify(working.body));
    assert.equal(working.body.has_tokenizer, true);
  });
});
