import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { bpeTokenizerJson, TINY_LLAMA, writeSafetensors, type NamedTensor } from '@tessera/engine';
import {
  contentDigest,
  hfTensors,
  putPart,
  rawSafetensors,
  sha256Hex,
  shard,
  uploadShard,
} from './testing/sharded-checkpoint.js';
import { call, createTenant, startTestGateway, TEST_PLATFORM_KEY, type TestGateway } from './testing/test-gateway.js';

const llama = TINY_LLAMA;
const PART_BYTES = 16_384;

describe('base models in shards: uploaded in parts, assembled, validated whole; platform checkpoints registered in place', () => {
  let gateway: TestGateway;
  let dataDir: string;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let checkpoint: Awaited<ReturnType<typeof hfTensors>>;
  const req = (method: string, url: string, options: Parameters<typeof call>[3] = {}) =>
    call(gateway, method, url, { key: tenant.adminKey, ...options });
  const blobPath = (sha256: string) => path.join(dataDir, 'blobs', tenant.tenant.id, sha256.slice(0, 2), sha256);
  let names = 0;
  /** A fresh import: registered, with `index` uploaded when there is one. */
  const register = async (index?: unknown, precision?: string) => {
    const registered = await req('POST', '/v1/base-models', {
      body: { name: `sharded-${++names}`, config: checkpoint.config, ...(precision ? { precision } : {}) },
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    if (index) {
      const indexed = await req('PUT', `/v1/base-models/${registered.body.id}/model.safetensors.index.json`, {
        body: index,
      });
      assert.equal(indexed.status, 200, JSON.stringify(indexed.body));
    }
    return registered.body as { id: string; name: string };
  };
  /** Uploads `files` whole (each in parts) into a fresh import and completes it. */
  const importCheckpoint = async (files: Map<string, Uint8Array>, index?: unknown) => {
    const model = await register(index);
    for (const [file, bytes] of files) await uploadShard(gateway, tenant.adminKey, model.id, file, bytes);
    return { model, completed: await req('POST', `/v1/base-models/${model.id}/complete`) };
  };

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-shards-'));
    checkpoint = await hfTensors(llama, 7);
    gateway = await startTestGateway({
      DATA_DIR: dataDir,
      BASE_MODEL_PART_BYTES: String(PART_BYTES),
      BASE_MODEL_MAX_SHARD_BYTES: '1000000',
      BASE_MODEL_MAX_PARTS: '40',
      BASE_MODEL_MAX_SHARDS: '4',
    });
    tenant = await createTenant(gateway);
  });
  after(async () => {
    // Platform models are every tenant's: the one registered here goes, so other suites' lists stay theirs.
    const owner = new pg.Client({ connectionString: process.env.TEST_OWNER_DATABASE_URL });
    await owner.connect();
    const platform = "SELECT id FROM base_models WHERE tenant_id IS NULL AND name = 'platform-llama'";
    await owner.query(`DELETE FROM adapters WHERE base_model_id IN (${platform})`);
    await owner.query(`DELETE FROM base_models WHERE id IN (${platform})`);
    await owner.end();
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('takes shards in parts, resumes, refuses a part whose checksum is wrong, assembles each, and is ready only once validated', async () => {
    const { files, index } = shard(checkpoint.tensors, 2);
    const model = await register(index, 'bf16');
    const [first, second] = [...files.keys()] as [string, string];
    const firstBytes = files.get(first)!;
    const started = await req('PUT', `/v1/base-models/${model.id}/shards/${first}`, {
      body: { size: firstBytes.length, sha256: sha256Hex(firstBytes) },
    });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal(started.body.part_size, PART_BYTES);
    const partCount = Math.ceil(firstBytes.length / PART_BYTES);
    assert.ok(partCount >= 3, `${partCount} parts`);
    assert.deepEqual(
      [started.body.part_count, started.body.status, started.body.parts_received],
      [partCount, 'receiving', []],
    );
    const part = (n: number) => firstBytes.subarray((n - 1) * PART_BYTES, n * PART_BYTES);

    // Part 1 arrives; a wrong checksum, no checksum, or the wrong length stores nothing.
    assert.equal((await putPart(gateway, tenant.adminKey, model.id, first, 1, part(1))).status, 200);
    const corrupted = await putPart(gateway, tenant.adminKey, model.id, first, 2, part(2), contentDigest(part(3)));
    assert.equal(corrupted.status, 400);
    assert.equal(corrupted.body.errors[0].field, 'header.Content-Digest');
    assert.match(corrupted.body.errors[0].message, /hash to sha256 [0-9a-f]{64}, Content-Digest says/);
    assert.equal(existsSync(blobPath(sha256Hex(part(2)))), false, 'the refused part is not kept');
    const unsigned = await call(gateway, 'PUT', `/v1/base-models/${model.id}/shards/${first}/parts/2`, {
      key: tenant.adminKey,
      rawBody: part(2),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(unsigned.status, 400);
    assert.deepEqual(unsigned.body.errors, [{ field: 'header.Content-Digest', message: 'missing' }]);
    const short = part(2).subarray(1);
    const shortAnswer = await putPart(gateway, tenant.adminKey, model.id, first, 2, short);
    assert.equal(shortAnswer.status, 400);
    assert.match(shortAnswer.body.detail, /holds 16383 bytes; it must hold 16384/);
    const long = new Uint8Array(PART_BYTES + 1);
    const longAnswer = await putPart(gateway, tenant.adminKey, model.id, first, 2, long);
    assert.equal(longAnswer.status, 413);
    assert.equal(existsSync(blobPath(sha256Hex(long))), false);
    const past = await putPart(gateway, tenant.adminKey, model.id, first, partCount + 1, part(1));
    assert.equal(past.status, 400);
    assert.equal(past.body.errors[0].field, 'part_number');

    // Resuming: starting the same shard again answers what has arrived; another sha256 is a conflict.
    const resumed = await req('PUT', `/v1/base-models/${model.id}/shards/${first}`, {
      body: { size: firstBytes.length, sha256: sha256Hex(firstBytes) },
    });
    assert.deepEqual(resumed.body.parts_received, [1]);
    const otherSha = await req('PUT', `/v1/base-models/${model.id}/shards/${first}`, {
      body: { size: firstBytes.length, sha256: sha256Hex(part(1)) },
    });
    assert.equal(otherSha.status, 409);
    // A file the index does not name is refused before any byte is sent.
    const unnamed = await req('PUT', `/v1/base-models/${model.id}/shards/extra.safetensors`, {
      body: { size: 10, sha256: sha256Hex(part(1)) },
    });
    assert.equal(unnamed.status, 400);
    assert.equal(unnamed.body.errors[0].field, 'file');

    // Not every part yet: completing names what is missing.
    const early = await req('POST', `/v1/base-models/${model.id}/shards/${first}/complete`);
    assert.equal(early.status, 409);
    assert.match(early.body.detail, new RegExp(`misses ${partCount - 1} of its ${partCount} parts: 2, 3`));
    for (let n = partCount; n >= 2; n--)
      assert.equal((await putPart(gateway, tenant.adminKey, model.id, first, n, part(n))).status, 200);
    // A part sent twice (the client did not see the first answer) is accepted again, unchanged.
    const again = await putPart(gateway, tenant.adminKey, model.id, first, 2, part(2));
    assert.deepEqual(again.body, { part_number: 2, size: PART_BYTES, sha256: sha256Hex(part(2)) });
    assert.deepEqual((await req('GET', `/v1/base-models/${model.id}/shards/${first}`)).body.parts_received, [
      ...Array.from({ length: partCount }, (_, i) => i + 1),
    ]);

    // Half registered: nothing may use it, and completing the model names the shard still missing.
    const notYet = await req('POST', `/v1/base-models/${model.id}/complete`);
    assert.equal(notYet.status, 409);
    assert.match(notYet.body.detail, /no shards yet|still receiving parts/);
    const dataset = (await req('POST', '/v1/datasets', { body: { name: 'd', format: 'text' } })).body;
    await req('PUT', `/v1/datasets/${dataset.id}/content`, {
      rawBody: '{"text":"hello there"}\n',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    const refusedUses = [
      await req('POST', '/v1/adapters', { body: { name: 'too-early', base_model: model.name } }),
      await req('POST', '/v1/fine-tunes', {
        body: { base_model: model.name, dataset_id: dataset.id, adapter_name: 'too-early-ft' },
      }),
      await req('POST', '/v1/completions', { body: { model: model.name, prompt: 'hi', max_tokens: 2 } }),
    ];
    assert.deepEqual(
      refusedUses.map((r) => r.status),
      [409, 409, 409],
      JSON.stringify(refusedUses.map((r) => r.body)),
    );

    const assembled = await req('POST', `/v1/base-models/${model.id}/shards/${first}/complete`);
    assert.equal(assembled.status, 200, JSON.stringify(assembled.body));
    assert.deepEqual([assembled.body.status, assembled.body.parts_received], ['complete', []]);
    // One blob, the whole shard under its sha256; the parts' blobs are gone.
    assert.ok(existsSync(blobPath(sha256Hex(firstBytes))));
    for (let n = 1; n <= partCount; n++) assert.equal(existsSync(blobPath(sha256Hex(part(n)))), false, `part ${n}`);
    // Completing again answers the same; parts for a complete shard are refused.
    assert.equal((await req('POST', `/v1/base-models/${model.id}/shards/${first}/complete`)).status, 200);
    assert.equal((await putPart(gateway, tenant.adminKey, model.id, first, 1, part(1))).status, 409);

    const stillMissing = await req('POST', `/v1/base-models/${model.id}/complete`);
    assert.equal(stillMissing.status, 400);
    assert.deepEqual(stillMissing.body.errors[0], {
      field: 'model.safetensors.index.json',
      message: `the index names shard ${second}, which is missing`,
    });

    await uploadShard(gateway, tenant.adminKey, model.id, second, files.get(second)!);
    const ready = await req('POST', `/v1/base-models/${model.id}/complete`);
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.deepEqual([ready.body.status, ready.body.precision, ready.body.owner], ['ready', 'bf16', 'tenant']);
    const listed = (await req('GET', '/v1/base-models')).body.data.find((m: any) => m.id === model.id);
    assert.deepEqual([listed.status, listed.precision], ['ready', 'bf16']);
    assert.equal(
      (await req('POST', '/v1/adapters', { body: { name: 'on-shards', base_model: model.name } })).status,
      201,
    );
    const shards = (await req('GET', `/v1/base-models/${model.id}/shards`)).body.data;
    assert.deepEqual(
      shards.map((s: any) => [s.file, s.status]),
      [
        [first, 'complete'],
        [second, 'complete'],
      ],
    );
    // A ready model's files no longer change.
    assert.equal((await req('POST', `/v1/base-models/${model.id}/complete`)).status, 409);
    assert.equal((await req('DELETE', `/v1/base-models/${model.id}/shards/${first}`)).status, 409);
    // Another tenant sees none of it.
    const other = await createTenant(gateway);
    const stranger = await call(gateway, 'GET', `/v1/base-models/${model.id}/shards`, { key: other.adminKey });
    assert.equal(stranger.status, 404);
  });

  it('refuses to assemble parts that do not make the declared file, keeps them, and starts over after DELETE', async () => {
    const whole = writeSafetensors(checkpoint.tensors);
    const model = await register();
    const declared = await req('PUT', `/v1/base-models/${model.id}/shards/model.safetensors`, {
      body: { size: whole.length, sha256: sha256Hex(whole.subarray(1)) },
    });
    assert.equal(declared.status, 200);
    for (let n = 1; n <= declared.body.part_count; n++) {
      const answer = await putPart(
        gateway,
        tenant.adminKey,
        model.id,
        'model.safetensors',
        n,
        whole.subarray((n - 1) * PART_BYTES, n * PART_BYTES),
      );
      assert.equal(answer.status, 200);
    }
    const mismatch = await req('POST', `/v1/base-models/${model.id}/shards/model.safetensors/complete`);
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.body.errors[0].field, 'sha256');
    assert.equal(existsSync(blobPath(sha256Hex(whole))), false, 'the mismatched assembly is not kept');
    const kept = await req('GET', `/v1/base-models/${model.id}/shards/model.safetensors`);
    assert.equal(kept.body.parts_received.length, declared.body.part_count);

    assert.equal((await req('DELETE', `/v1/base-models/${model.id}/shards/model.safetensors`)).status, 204);
    assert.equal((await req('GET', `/v1/base-models/${model.id}/shards/model.safetensors`)).status, 404);
    assert.equal(existsSync(blobPath(sha256Hex(whole.subarray(0, PART_BYTES)))), false, 'its parts are released');
    await uploadShard(gateway, tenant.adminKey, model.id, 'model.safetensors', whole);
    const ready = await req('POST', `/v1/base-models/${model.id}/complete`);
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.precision, 'fp32', 'the default precision');
  });

  it('keeps its limits: shard size, parts per shard, shards per model', async () => {
    const model = await register();
    const sha = sha256Hex(new Uint8Array(1));
    const big = await req('PUT', `/v1/base-models/${model.id}/shards/model.safetensors`, {
      body: { size: 1_000_001, sha256: sha },
    });
    assert.equal(big.status, 400);
    assert.match(big.body.errors[0].message, /over the limit of 1000000/);
    const many = await req('PUT', `/v1/base-models/${model.id}/shards/model.safetensors`, {
      body: { size: 41 * PART_BYTES, sha256: sha },
    });
    assert.equal(many.status, 400);
    assert.match(many.body.errors[0].message, /needs 41 parts/);
    for (let i = 1; i <= 4; i++)
      assert.equal(
        (await req('PUT', `/v1/base-models/${model.id}/shards/s${i}.safetensors`, { body: { size: 10, sha256: sha } }))
          .status,
        200,
      );
    const fifth = await req('PUT', `/v1/base-models/${model.id}/shards/s5.safetensors`, {
      body: { size: 10, sha256: sha },
    });
    assert.equal(fifth.status, 409);
    assert.match(fifth.body.detail, /BASE_MODEL_MAX_SHARDS/);
  });

  describe('a checkpoint that does not fit is a 400 naming each problem, and stays uploading', () => {
    const tensor = (name: string) => checkpoint.tensors.get(name)!;
    const without = (name: string) => new Map([...checkpoint.tensors].filter(([n]) => n !== name));
    const cases: {
      name: string;
      build: () => { files: Map<string, Uint8Array>; index?: unknown };
      expect: RegExp[];
      /** Uploaded once the shards are in (a shard the index does not name is refused at its start otherwise). */
      indexLast?: boolean;
    }[] = [
      {
        name: 'a shard that is not safetensors',
        build: () => ({ files: new Map([['model.safetensors', new TextEncoder().encode('not a safetensors file')]]) }),
        expect: [/model\.safetensors: header length \d+ exceeds the file/],
      },
      {
        name: 'a tensor whose byte range lies outside the file',
        build: () => {
          const embed = tensor('model.embed_tokens.weight');
          const bytes = new Uint8Array(embed.data.buffer, embed.data.byteOffset, embed.data.byteLength);
          const header = {
            'model.embed_tokens.weight': { dtype: 'F32', shape: embed.shape, data_offsets: [8, 8 + bytes.length] },
          };
          return { files: new Map([['model.safetensors', rawSafetensors(header, bytes)]]) };
        },
        expect: [/tensor model\.embed_tokens\.weight: byte range \[8, \d+\) does not fit/],
      },
      {
        name: 'a weight in a dtype other than F32, F16 or BF16',
        build: () => {
          const norm = tensor('model.norm.weight');
          const f64 = new Uint8Array(norm.data.length * 8);
          const i64: NamedTensor = { dtype: 'I64', shape: norm.shape, data: new BigInt64Array(norm.data.length) };
          const f64Name = 'model.layers.0.input_layernorm.weight';
          const others = new Map([...without('model.norm.weight'), ['model.norm.weight', i64]]);
          others.delete(f64Name);
          const header = { [f64Name]: { dtype: 'F64', shape: norm.shape, data_offsets: [0, f64.length] } };
          const [first, second] = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
          const weightMap = Object.fromEntries([...[...others.keys()].map((n) => [n, first]), [f64Name, second]]);
          return {
            files: new Map([
              [first, writeSafetensors(others)],
              [second, rawSafetensors(header, f64)],
            ]),
            index: { weight_map: weightMap },
          };
        },
        expect: [/model\.norm\.weight: dtype I64, expected F32, F16 or BF16/, /has dtype F64/],
      },
      {
        name: 'a missing tensor and an unexpected one',
        build: () => {
          const tensors = without('model.layers.1.mlp.down_proj.weight');
          tensors.set('model.layers.9.mlp.down_proj.weight', tensor('model.layers.1.mlp.down_proj.weight'));
          return { files: new Map([['model.safetensors', writeSafetensors(tensors)]]) };
        },
        expect: [
          /missing tensor layers\.1\.mlp\.down_proj\.weight/,
          /unexpected tensor model\.layers\.9\.mlp\.down_proj\.weight/,
        ],
      },
      {
        name: 'a shape that does not fit config.json',
        build: () => {
          const tensors = new Map(checkpoint.tensors);
          tensors.set('model.layers.0.self_attn.q_proj.weight', tensor('model.layers.0.mlp.up_proj.weight'));
          return { files: new Map([['model.safetensors', writeSafetensors(tensors)]]) };
        },
        expect: [/model\.layers\.0\.self_attn\.q_proj\.weight: shape \[64,32\], expected \[32,32\]/],
      },
      {
        name: 'an index naming a shard that was not uploaded',
        build: () => {
          const { files, index } = shard(checkpoint.tensors, 2);
          files.delete('model-00002-of-00002.safetensors');
          return { files, index };
        },
        expect: [/the index names shard model-00002-of-00002\.safetensors, which is missing/, /missing tensor/],
      },
      {
        name: 'a tensor in another shard than the index says',
        build: () => {
          const { files, index } = shard(checkpoint.tensors, 2);
          const moved = Object.keys(index.weight_map).find(
            (n) => index.weight_map[n] === 'model-00001-of-00002.safetensors',
          )!;
          index.weight_map[moved] = 'model-00002-of-00002.safetensors';
          return { files, index };
        },
        expect: [
          /tensor .+ is in model-00001-of-00002\.safetensors, the index puts it in model-00002-of-00002\.safetensors/,
          /the index puts tensor .+ in model-00002-of-00002\.safetensors, which does not hold it/,
        ],
      },
      {
        name: 'a shard the index does not name',
        build: () => {
          const { files, index } = shard(checkpoint.tensors, 2);
          files.set(
            'model-00003-of-00002.safetensors',
            writeSafetensors(new Map([['model.norm.weight', tensor('model.norm.weight')]])),
          );
          return { files, index };
        },
        expect: [/model-00003-of-00002\.safetensors is not a shard the index names/],
        indexLast: true,
      },
    ];

    for (const { name, build, expect, indexLast } of cases) {
      it(name, async () => {
        const { files, index } = build();
        const model = await register(indexLast ? undefined : index);
        for (const [file, bytes] of files) await uploadShard(gateway, tenant.adminKey, model.id, file, bytes);
        if (indexLast)
          assert.equal(
            (await req('PUT', `/v1/base-models/${model.id}/model.safetensors.index.json`, { body: index })).status,
            200,
          );
        const completed = await req('POST', `/v1/base-models/${model.id}/complete`);
        assert.equal(completed.status, 400, JSON.stringify(completed.body));
        assert.equal(completed.body.type, '/problems/validation');
        const messages = completed.body.errors.map((e: any) => e.message).join('\n');
        for (const pattern of expect) assert.match(messages, pattern);
        assert.equal((await req('GET', `/v1/base-models/${model.id}`)).body.status, 'uploading');
      });
    }

    it('lists at most 50 problems and counts the rest', async () => {
      const { files, index } = shard(checkpoint.tensors, 1);
      for (let i = 0; i < 60; i++) index.weight_map[`model.extra.${i}`] = 'model-00001-of-00001.safetensors';
      const { completed } = await importCheckpoint(files, index);
      assert.equal(completed.status, 400);
      assert.equal(completed.body.errors.length, 51);
      assert.match(completed.body.detail, /\(60 problems\)/);
      assert.equal(completed.body.errors[50].message, 'and 10 more problems');
    });

    it('the single-request upload is checked the same way, reading only headers', async () => {
      const model = await register();
      const tensors = without('lm_head.weight');
      const answer = await fetch(`${gateway.url}/v1/base-models/${model.id}/model.safetensors`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${tenant.adminKey}`, 'content-type': 'application/octet-stream' },
        body: writeSafetensors(tensors),
      });
      assert.equal(answer.status, 400);
      assert.match(JSON.stringify(await answer.json()), /missing tensor lm_head\.weight/);
    });
  });

  it('takes a precision at registration and returns it; refuses one it does not know', async () => {
    const registered = await register(undefined, 'int4');
    assert.equal((await req('GET', `/v1/base-models/${registered.id}`)).body.precision, 'int4');
    const unknown = await req('POST', '/v1/base-models', {
      body: { name: 'int3', config: checkpoint.config, precision: 'int3' },
    });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.errors[0].field, 'body.precision');
  });

  describe('the platform admin registers a checkpoint kept in place', () => {
    const folder = (prefix: string) => path.join(dataDir, 'checkpoints', prefix);
    const place = async (prefix: string, files: Record<string, Uint8Array | string>) => {
      await mkdir(folder(prefix), { recursive: true });
      for (const [file, bytes] of Object.entries(files)) await writeFile(path.join(folder(prefix), file), bytes);
    };
    const registerPlatform = (body: unknown, key = TEST_PLATFORM_KEY) =>
      call(gateway, 'POST', '/v1/platform/base-models', { key, body });

    it('validates it there (headers only), records it ready for every tenant, and copies nothing', async () => {
      const { files, index } = shard(checkpoint.tensors, 2);
      await place('org/tiny-llama', {
        'config.json': JSON.stringify(checkpoint.config),
        'model.safetensors.index.json': JSON.stringify(index),
        'tokenizer.json': JSON.stringify(bpeTokenizerJson()),
        'tokenizer_config.json': JSON.stringify({ eos_token: '<|endoftext|>' }),
        ...Object.fromEntries(files),
      });
      const blobsBefore = await readdir(path.join(dataDir, 'blobs'), { recursive: true });
      const asTenant = await registerPlatform({ name: 'platform-llama', prefix: 'org/tiny-llama' }, tenant.adminKey);
      assert.equal(asTenant.status, 403, 'a tenant key is known but not allowed here');

      const registered = await registerPlatform({
        name: 'platform-llama',
        prefix: 'org/tiny-llama/',
        precision: 'int8',
      });
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      assert.deepEqual(
        [registered.body.owner, registered.body.status, registered.body.precision, registered.body.has_tokenizer],
        ['platform', 'ready', 'int8', true],
      );
      assert.deepEqual(await readdir(path.join(dataDir, 'blobs'), { recursive: true }), blobsBefore);
      const seen = await call(gateway, 'GET', `/v1/base-models/${registered.body.id}`, {
        key: (await createTenant(gateway)).adminKey,
      });
      assert.deepEqual([seen.status, seen.body.owner, seen.body.precision], [200, 'platform', 'int8']);
      assert.equal(
        (await req('POST', '/v1/adapters', { body: { name: 'on-platform', base_model: 'platform-llama' } })).status,
        201,
      );
      // A tenant cannot change it; the name is the platform's once.
      assert.equal((await req('POST', `/v1/base-models/${registered.body.id}/complete`)).status, 409);
      const twice = await registerPlatform({ name: 'platform-llama', prefix: 'org/tiny-llama' });
      assert.equal(twice.status, 409);
    });

    it('refuses a folder that does not hold a servable checkpoint, naming what is wrong', async () => {
      const { files, index } = shard(checkpoint.tensors, 2);
      files.delete('model-00002-of-00002.safetensors');
      await place('org/half', {
        'config.json': JSON.stringify(checkpoint.config),
        'model.safetensors.index.json': JSON.stringify(index),
        ...Object.fromEntries(files),
      });
      const half = await registerPlatform({ name: 'half', prefix: 'org/half' });
      assert.equal(half.status, 400);
      assert.match(
        JSON.stringify(half.body.errors),
        /the index names shard model-00002-of-00002\.safetensors, which is missing/,
      );

      const empty = await registerPlatform({ name: 'empty', prefix: 'org/nothing-here' });
      assert.equal(empty.status, 400);
      assert.match(empty.body.detail, /No config\.json/);

      await place('org/bad-template', {
        'config.json': JSON.stringify(checkpoint.config),
        'model.safetensors': writeSafetensors(checkpoint.tensors),
        'tokenizer.json': JSON.stringify(bpeTokenizerJson()),
        'tokenizer_config.json': JSON.stringify({ eos_token: '<|endoftext|>', chat_template: '{% for m in %}' }),
      });
      const template = await registerPlatform({ name: 'bad-template', prefix: 'org/bad-template' });
      assert.equal(template.status, 400);
      assert.equal(template.body.errors[0].field, 'tokenizer_config.json');
      assert.match(template.body.errors[0].message, /^chat_template: /);

      const outside = await registerPlatform({ name: 'outside', prefix: '../blobs' });
      assert.equal(outside.status, 400);
      assert.equal(outside.body.errors[0].field, 'body.prefix');
      const listed = (await req('GET', '/v1/base-models')).body.data.map((m: any) => m.name);
      assert.ok(!listed.includes('half') && !listed.includes('bad-template'));
    });
  });
});
