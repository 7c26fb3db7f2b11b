import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  bpeTokenizerJson,
  randomWeights,
  readSafetensors,
  TINY_LLAMA,
  writeHfCheckpoint,
  writeSafetensors,
  type DecoderConfig,
} from '@tessera/engine';
import { jsonCall, putDatasetContent, until } from './api-calls.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

const PLATFORM_KEY = 'e2e-platform-admin-key-0123456789';
const PART_BYTES = 32_768;
const config: DecoderConfig = { ...TINY_LLAMA, maxPositions: 128 };
const tokenizerConfig = { eos_token: '<|endoftext|>' };

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

describe('imported base models across processes: shards uploaded in parts, or a platform checkpoint kept in place, trained and served by workers', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let gateway: GatewayProcess;
  const workers: WorkerProcess[] = [];
  let key: string;
  let datasetId: string;
  /** config.json, the two shards and their index, as transformers would save them. */
  let hf: { config: unknown; shards: Map<string, Uint8Array>; index: { weight_map: Record<string, string> } };
  const call = (method: string, url: string, body?: unknown) => jsonCall(gateway.url, key, method, url, body);
  const output = () => workers.map((w) => w.output()).join('\n');

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-e2e-import-'));
    const dir = path.join(dataDir, 'hf');
    await writeHfCheckpoint(dir, config, randomWeights(config, 13));
    const tensors = readSafetensors(await readFile(path.join(dir, 'model.safetensors'))).tensors;
    const names = [...tensors.keys()].sort();
    const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const shards = new Map(
      files.map((file, i) => [
        file,
        writeSafetensors(new Map(names.filter((_, n) => n % 2 === i).map((name) => [name, tensors.get(name)!]))),
      ]),
    );
    hf = {
      config: JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')),
      shards,
      index: { weight_map: Object.fromEntries(names.map((name, n) => [name, files[n % 2]!])) },
    };
    env = {
      DATABASE_URL: requiredEnv('TEST_DATABASE_URL'),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      DATA_DIR: dataDir,
      QUEUE_PREFIX: `e2e-import-${process.pid}`,
      WEIGHTS_CACHE_DIR: path.join(dataDir, 'weights'),
    };
    gateway = await startGatewayProcess({
      ...env,
      PLATFORM_ADMIN_KEY: PLATFORM_KEY,
      BASE_MODEL_PART_BYTES: String(PART_BYTES),
    });
    workers.push(await startWorkerProcess({ ...env, WORKER_THREADS: '1' }));
    const tenant = await jsonCall(gateway.url, PLATFORM_KEY, 'POST', '/v1/tenants', { name: 'Importers' });
    key = tenant.body.api_key.secret;
    datasetId = (await call('POST', '/v1/datasets', { name: 'greetings', format: 'text' })).body.id;
    await putDatasetContent(
      gateway.url,
      key,
      datasetId,
      Array.from({ length: 40 }, (_, i) => ({ text: `hello number ${i}, how are you today?` })),
    );
  });

  after(async () => {
    for (const worker of workers) await worker.stop();
    assert.equal(await gateway.stop(), 0);
    // Platform models are every tenant's: the one registered here goes, so other suites' lists stay theirs.
    const owner = new pg.Client({ connectionString: requiredEnv('TEST_OWNER_DATABASE_URL') });
    await owner.connect();
    const platform = "SELECT id FROM base_models WHERE tenant_id IS NULL AND name = 'e2e-platform-llama'";
    await owner.query(`DELETE FROM jobs WHERE base_model_id IN (${platform})`);
    await owner.query(`DELETE FROM adapters WHERE base_model_id IN (${platform})`);
    await owner.query(`DELETE FROM base_models WHERE id IN (${platform})`);
    await owner.end();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function fineTune(baseModel: string, adapterName: string) {
    const job = await call('POST', '/v1/fine-tunes', {
      base_model: baseModel,
      dataset_id: datasetId,
      adapter_name: adapterName,
      hyperparameters: { max_steps: 6, batch_size: 4, max_sequence_length: 32, learning_rate: 5e-3, seed: 1 },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    return until(
      `fine-tune on ${baseModel}`,
      async () => (await call('GET', `/v1/fine-tunes/${job.body.id}`)).body,
      (j) => j.status === 'succeeded',
      (j) => j.status === 'failed' || j.status === 'cancelled',
      output,
    );
  }

  it('a checkpoint uploaded as two shards, each in parts, is trained on by the worker', async () => {
    const model = (await call('POST', '/v1/base-models', { name: 'uploaded-llama', config: hf.config })).body;
    await call('PUT', `/v1/base-models/${model.id}/tokenizer`, {
      tokenizer: bpeTokenizerJson(),
      tokenizer_config: tokenizerConfig,
    });
    assert.equal((await call('PUT', `/v1/base-models/${model.id}/model.safetensors.index.json`, hf.index)).status, 200);
    for (const [file, bytes] of hf.shards) {
      const started = await call('PUT', `/v1/base-models/${model.id}/shards/${file}`, {
        size: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      });
      assert.equal(started.body.part_count, Math.ceil(bytes.length / PART_BYTES));
      assert.ok(started.body.part_count > 1);
      for (let n = 1; n <= started.body.part_count; n++) {
        const part = bytes.subarray((n - 1) * PART_BYTES, n * PART_BYTES);
        const put = await fetch(`${gateway.url}/v1/base-models/${model.id}/shards/${file}/parts/${n}`, {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${key}`,
            'content-type': 'application/octet-stream',
            'content-digest': `sha-256=:${createHash('sha256').update(part).digest('base64')}:`,
          },
          body: part,
        });
        assert.equal(put.status, 200, await put.text());
      }
      assert.equal((await call('POST', `/v1/base-models/${model.id}/shards/${file}/complete`)).status, 200);
    }
    const ready = await call('POST', `/v1/base-models/${model.id}/complete`);
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body));
    const done = await fineTune('uploaded-llama', 'on-uploaded');
    assert.ok(done.adapter_id, JSON.stringify(done));
  });

  it('a platform checkpoint registered from its prefix (int8) is trained on and served, read in place', async () => {
    const folder = path.join(dataDir, 'checkpoints', 'e2e', 'tiny-llama');
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, 'config.json'), JSON.stringify(hf.config));
    await writeFile(path.join(folder, 'model.safetensors.index.json'), JSON.stringify(hf.index));
    await writeFile(path.join(folder, 'tokenizer.json'), JSON.stringify(bpeTokenizerJson()));
    await writeFile(path.join(folder, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
    for (const [file, bytes] of hf.shards) await writeFile(path.join(folder, file), bytes);
    const registered = await jsonCall(gateway.url, PLATFORM_KEY, 'POST', '/v1/platform/base-models', {
      name: 'e2e-platform-llama',
      prefix: 'e2e/tiny-llama',
      precision: 'int8',
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    assert.equal(registered.body.precision, 'int8');

    await fineTune('e2e-platform-llama', 'on-platform');
    // An inference worker for it, serving at int8 from the shards where they lie.
    workers.push(
      await startWorkerProcess({
        ...env,
        WORKER_THREADS: '1',
        INFER_BASE_MODELS: registered.body.id,
        INFER_SLOTS: '4',
      }),
    );
    const completion = await call('POST', '/v1/completions', {
      model: 'e2e-platform-llama',
      prompt: 'hello number',
      max_tokens: 4,
      temperature: 0,
    });
    assert.equal(completion.status, 200, `${JSON.stringify(completion.body)}\n${output()}`);
    assert.ok(completion.body.usage.completion_tokens >= 1, JSON.stringify(completion.body));
  });
});
