import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  bpeTokenizerJson,
  randomWeights,
  readPeftAdapter,
  TINY_LLAMA,
  writeHfCheckpoint,
  type DecoderConfig,
} from '@tessera/engine';
import { createTesseraClient, shownSecret, unwrap, type TesseraApi, type TesseraProblemError } from '@tessera/sdk';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

const PLATFORM_KEY = 'e2e-platform-admin-key-0123456789';

/** A small synthetic domain the demo model has never seen. */
function recipes(count: number): string {
  const grains = ['flour', 'rice', 'oats', 'sugar'];
  const fruit = ['eggs', 'apples', 'lemons'];
  let seed = 7;
  const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      text: `mix ${1 + next(4)} cups of ${grains[next(4)]} with ${1 + next(6)} ${fruit[next(3)]}, stir well, then bake for ${10 + next(50)} minutes.`,
      document_id: `r${i % 10}`,
    }),
  ).join('\n');
}

/** What a receiver does, written here from the Standard Webhooks spec rather than imported. */
function signatureValid(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = `v1,${createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64')}`;
  return (
    String(headers['webhook-signature']).split(' ').includes(expected) &&
    Math.abs(Date.now() / 1000 - Number(headers['webhook-timestamp'])) < 300
  );
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

describe('fine-tunes across processes: gateway, worker, Postgres, Redis, blob store', () => {
  let dataDir: string;
  let gateway: GatewayProcess;
  let workers: WorkerProcess[] = [];
  let client: TesseraApi;
  let key: string;
  let datasetId: string;
  let env: Record<string, string>;
  let receiver: WebhookReceiver;
  let receiverUrl: string;
  let received: WebhookReceiver['received'];
  let uninterruptedAdapter = '';

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-e2e-'));
    env = {
      DATABASE_URL: requiredEnv('TEST_DATABASE_URL'),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      DATA_DIR: dataDir,
      // Its own queue namespace: no other test's worker takes these jobs, nor this worker theirs.
      QUEUE_PREFIX: `e2e-${process.pid}`,
      // The test's webhook receiver listens on loopback.
      WEBHOOK_ALLOW_PRIVATE: 'true',
    };
    receiver = await startWebhookReceiver();
    receiverUrl = receiver.url;
    received = receiver.received;
    gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: PLATFORM_KEY });
    // A short lock so a killed worker's job is picked up within seconds.
    workers.push(
      await startWorkerProcess({ ...env, WORKER_THREADS: '1', LOCK_DURATION_MS: '3000', STALLED_INTERVAL_MS: '1000' }),
    );
    const platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
    key = shownSecret((await unwrap(platform.POST('/v1/tenants', { body: { name: 'Fine-tuners' } }))).api_key);
    client = createTesseraClient({ baseUrl: gateway.url, apiKey: key });
    const dataset = await unwrap(client.POST('/v1/datasets', { body: { name: 'recipes', format: 'text' } }));
    const uploaded = await fetch(`${gateway.url}/v1/datasets/${dataset.id}/content`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
      body: recipes(120),
    });
    assert.equal(uploaded.status, 200, await uploaded.text());
    datasetId = dataset.id;
  });

  after(async () => {
    for (const worker of workers) await worker.stop();
    assert.equal(await gateway.stop(), 0);
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const startFineTune = (adapterName: string, maxSteps: number, baseModel = 'tessera-demo') =>
    unwrap(
      client.POST('/v1/fine-tunes', {
        body: {
          base_model: baseModel,
          dataset_id: datasetId,
          adapter_name: adapterName,
          hyperparameters: {
            max_steps: maxSteps,
            batch_size: 4,
            max_sequence_length: 64,
            learning_rate: 5e-3,
            checkpoint_every: 4,
            seed: 3,
          },
          validation_split: 0.2,
        },
      }),
    );

  async function waitFor(jobId: string, statuses: string[], timeoutMs = 240_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await unwrap(client.GET('/v1/fine-tunes/{job_id}', { params: { path: { job_id: jobId } } }));
      if (statuses.includes(job.status)) return job;
      if (Date.now() > deadline)
        throw new Error(
          `job ${jobId} is still ${job.status}; worker output:\n${workers.map((w) => w.output()).join('\n')}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  const weights = async (adapterId: string, version: number) => {
    const response = await fetch(
      `${gateway.url}/v1/adapters/${adapterId}/versions/${version}/adapter_model.safetensors`,
      { headers: { authorization: `Bearer ${key}` } },
    );
    assert.equal(response.status, 200);
    return Buffer.from(await response.arrayBuffer());
  };

  it("upload → fine-tune on the demo model → signed webhook received and verified → adapter ready, its validation loss below the base model's; events stream live", async () => {
    const endpoint = await unwrap(
      client.POST('/v1/webhooks', {
        body: { url: receiverUrl, event_types: ['fine_tune.succeeded', 'adapter.ready'] },
      }),
    );
    const job = await startFineTune('recipes', 24);
    assert.equal(job.status, 'queued');
    // The SSE stream follows the job to its end.
    const stream = await fetch(`${gateway.url}/v1/fine-tunes/${job.id}/events`, {
      headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    });
    assert.equal(stream.headers.get('content-type'), 'text/event-stream');
    const text = await stream.text();
    assert.match(text, /event: metric/);
    assert.match(text, /event: end\ndata: \{"status":"succeeded"\}/);

    const done = await waitFor(job.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.ok(done.metrics!.validation_loss! < done.metrics!.base_validation_loss!, JSON.stringify(done.metrics));
    const versions = await unwrap(
      client.GET('/v1/adapters/{adapter_id}/versions', { params: { path: { adapter_id: done.adapter_id! } } }),
    );
    assert.equal(versions.data[0]!.status, 'ready');
    assert.equal(versions.data[0]!.document_count, 10);
    const config = await unwrap(
      client.GET('/v1/adapters/{adapter_id}/versions/{version}/adapter_config.json', {
        params: { path: { adapter_id: done.adapter_id!, version: 1 } },
      }),
    );
    assert.equal((config as Record<string, unknown>).peft_type, 'LORA');
    assert.ok((await weights(done.adapter_id!, 1)).length > 1000);
    const checkpoints = await unwrap(
      client.GET('/v1/fine-tunes/{job_id}/checkpoints', { params: { path: { job_id: job.id } } }),
    );
    assert.deepEqual(
      checkpoints.data.map((c) => c.step),
      [4, 8, 12, 16, 20, 24],
    );

    // The webhooks: both event types, signed with the endpoint's secret, thin payloads naming the job and adapter.
    for (let i = 0; received.length < 2; i++) {
      assert.ok(i < 400, `webhooks did not arrive: ${received.length}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const events = received.map((r) => ({ ...r, payload: JSON.parse(r.body) }));
    assert.deepEqual(events.map((e) => e.payload.type).sort(), ['adapter.ready', 'fine_tune.succeeded']);
    for (const e of events)
      assert.ok(signatureValid(shownSecret(endpoint), e.headers, e.body), `bad signature on ${e.payload.type}`);
    const succeeded = events.find((e) => e.payload.type === 'fine_tune.succeeded')!;
    assert.deepEqual(succeeded.payload.data, {
      id: job.id,
      adapter_id: done.adapter_id,
      adapter_version_id: done.adapter_version_id,
    });
  });

  it('target_modules "auto": the worker places the adapter by gradient rank within the budget, records why, and it exports to PEFT and serves', async () => {
    // A placement without "auto" is refused before anything is queued, naming the field.
    await assert.rejects(
      client.POST('/v1/fine-tunes', {
        body: {
          base_model: 'tessera-demo',
          dataset_id: datasetId,
          adapter_name: 'misplaced',
          hyperparameters: { target_modules: ['attn.c_attn'], placement: { strategy: 'gradient_rank' } },
        },
      }),
      (error: TesseraProblemError) =>
        error.status === 400 &&
        error.fieldErrors.some(
          (e) => e.field === 'body.hyperparameters.placement' && /set target_modules to "auto"/.test(e.message),
        ),
    );

    const budget = 20_000; // below PEFT's default (c_attn in 4 layers at rank 8: 24,576)
    const job = await unwrap(
      client.POST('/v1/fine-tunes', {
        body: {
          base_model: 'tessera-demo',
          dataset_id: datasetId,
          adapter_name: 'recipes-placed',
          hyperparameters: {
            target_modules: 'auto',
            placement: { strategy: 'gradient_rank', budget_params: budget },
            max_steps: 8,
            batch_size: 4,
            max_sequence_length: 64,
            seed: 3,
          },
          validation_split: 0.2,
        },
      }),
    );
    const done = await waitFor(job.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    const [version] = (
      await unwrap(
        client.GET('/v1/adapters/{adapter_id}/versions', { params: { path: { adapter_id: done.adapter_id! } } }),
      )
    ).data;
    const placement = version!.placement!;
    assert.equal(placement.strategy, 'gradient_rank');
    assert.equal(placement.budget_params, budget);
    assert.equal(placement.scores.length, 16, 'every layer × projection of the demo model scored');
    assert.ok(placement.chosen.length >= 1 && placement.params <= budget, JSON.stringify(placement));
    // The best-ranked projection that fits the budget alone is among the chosen (rank 8 × (d_in + d_out)).
    const perRank: Record<string, number> = {
      'attn.c_attn': 192 + 576,
      'attn.c_proj': 192 + 192,
      'mlp.c_fc': 192 + 768,
      'mlp.c_proj': 768 + 192,
    };
    const fitting = placement.scores.filter((s) => 8 * perRank[s.module]! <= budget);
    const best = fitting.sort((a, b) => b.gradient_rank - a.gradient_rank || b.gradient_norm - a.gradient_norm)[0]!;
    assert.ok(placement.chosen.includes(best.projection), `${best.projection} ranks best and fits, yet was left out`);
    assert.equal(
      placement.params,
      placement.chosen.reduce((sum, key) => sum + 8 * perRank[key.split('.').slice(2).join('.')]!, 0),
    );
    assert.deepEqual(
      [...version!.target_modules].sort(),
      [...new Set(placement.chosen.map((key) => key.split('.').slice(2).join('.')))].sort(),
    );

    // The PEFT files name exactly the placed projections, and the weights hold factors for them only.
    const config = (await unwrap(
      client.GET('/v1/adapters/{adapter_id}/versions/{version}/adapter_config.json', {
        params: { path: { adapter_id: done.adapter_id!, version: 1 } },
      }),
    )) as Record<string, unknown>;
    const loaded = readPeftAdapter({ config, weights: new Uint8Array(await weights(done.adapter_id!, 1)) });
    assert.deepEqual([...loaded.factors.keys()].sort(), [...placement.chosen].sort());

    const completion = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'recipes-placed', prompt: 'Whisk the', max_tokens: 8, temperature: 0 }),
    });
    assert.equal(completion.status, 200, await completion.clone().text());
    assert.ok(((await completion.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens >= 1);

    // A budget no projection fits fails the job at once, saying why (no retry could help it).
    const tooSmall = await unwrap(
      client.POST('/v1/fine-tunes', {
        body: {
          base_model: 'tessera-demo',
          dataset_id: datasetId,
          adapter_name: 'recipes-unplaceable',
          hyperparameters: { target_modules: 'auto', placement: { strategy: 'gradient_rank', budget_params: 100 } },
        },
      }),
    );
    const failed = await waitFor(tooSmall.id, ['succeeded', 'failed']);
    assert.equal(failed.status, 'failed');
    assert.match(JSON.stringify(failed.error), /placement: a budget of 100 parameters fits no placement at rank 8/);
  });

  it('a worker killed with SIGKILL mid-job: the job resumes from its checkpoint on another worker, and the adapter is identical to an uninterrupted run', async () => {
    const uninterrupted = await waitFor((await startFineTune('recipes-whole', 24)).id, ['succeeded', 'failed']);
    assert.equal(uninterrupted.status, 'succeeded');

    const job = await startFineTune('recipes-killed', 24);
    // Wait for a checkpoint, then kill the worker without warning.
    for (let i = 0; ; i++) {
      const checkpoints = await unwrap(
        client.GET('/v1/fine-tunes/{job_id}/checkpoints', { params: { path: { job_id: job.id } } }),
      );
      if (checkpoints.data.length > 0) break;
      assert.ok(i < 2000, 'no checkpoint appeared');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await workers[0]!.kill();
    workers = [
      await startWorkerProcess({ ...env, WORKER_THREADS: '1', LOCK_DURATION_MS: '3000', STALLED_INTERVAL_MS: '1000' }),
    ];
    const done = await waitFor(job.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.ok(done.attempts >= 2, `attempts ${done.attempts}`);
    const events = await unwrap(
      client.GET('/v1/fine-tunes/{job_id}/events', { params: { path: { job_id: job.id }, query: { limit: 100 } } }),
    );
    assert.ok(events.data.some((e) => /resuming from the checkpoint of step \d+/.test(e.message ?? '')));
    assert.deepEqual(await weights(done.adapter_id!, 1), await weights(uninterrupted.adapter_id!, 1));
    uninterruptedAdapter = uninterrupted.adapter_id!;
  });

  it('SIGTERM: the worker checkpoints the running step, exits cleanly, and the job finishes elsewhere with the same adapter', async () => {
    const job = await startFineTune('recipes-terminated', 24);
    for (let i = 0; ; i++) {
      const current = await unwrap(client.GET('/v1/fine-tunes/{job_id}', { params: { path: { job_id: job.id } } }));
      if (current.progress > 0) break;
      assert.ok(i < 2000, 'the job did not start');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal(await workers[0]!.stop(), 0, 'the worker exits 0 on SIGTERM');
    const events = await unwrap(
      client.GET('/v1/fine-tunes/{job_id}/events', { params: { path: { job_id: job.id }, query: { limit: 100 } } }),
    );
    assert.ok(
      events.data.some((e) => /worker shutting down after step \d+/.test(e.message ?? '')),
      'it said where it stopped',
    );
    workers = [
      await startWorkerProcess({ ...env, WORKER_THREADS: '1', LOCK_DURATION_MS: '3000', STALLED_INTERVAL_MS: '1000' }),
    ];
    const done = await waitFor(job.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.deepEqual(await weights(done.adapter_id!, 1), await weights(uninterruptedAdapter, 1));
  });

  it('an imported Hugging Face checkpoint (Llama family, its own BPE tokenizer) registered through the API is fine-tuned by the worker', async () => {
    const config: DecoderConfig = { ...TINY_LLAMA, maxPositions: 128 };
    const dir = path.join(dataDir, 'tiny-llama');
    await writeHfCheckpoint(dir, config, randomWeights(config, 11));
    const model = await unwrap(
      client.POST('/v1/base-models', {
        body: { name: 'tiny-llama', config: JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) },
      }),
    );
    await unwrap(
      client.PUT('/v1/base-models/{base_model_id}/tokenizer', {
        params: { path: { base_model_id: model.id } },
        body: { tokenizer: bpeTokenizerJson(), tokenizer_config: { eos_token: '<|endoftext|>' } },
      }),
    );
    const weights = await fetch(`${gateway.url}/v1/base-models/${model.id}/model.safetensors`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream' },
      body: await readFile(path.join(dir, 'model.safetensors')),
    });
    assert.equal(weights.status, 200, await weights.text());
    const done = await waitFor((await startFineTune('recipes-on-llama', 12, 'tiny-llama')).id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.ok(done.metrics!.validation_loss! < done.metrics!.base_validation_loss!, JSON.stringify(done.metrics));
    const versions = await unwrap(
      client.GET('/v1/adapters/{adapter_id}/versions', { params: { path: { adapter_id: done.adapter_id! } } }),
    );
    assert.deepEqual(versions.data[0]!.target_modules.sort(), [
      'mlp.down_proj',
      'mlp.gate_proj',
      'mlp.up_proj',
      'self_attn.k_proj',
      'self_attn.o_proj',
      'self_attn.q_proj',
      'self_attn.v_proj',
    ]);
  });
});
