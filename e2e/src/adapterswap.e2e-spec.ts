import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DELETION_STEP_NAMES } from '@tessera/contracts';
import { domainTexts, seededRandom } from '@tessera/engine';
import { createTesseraClient, shownSecret, unwrap, type TesseraApi } from '@tessera/sdk';
import { jsonCall, putDatasetContent, until as untilReady } from './api-calls.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

const PLATFORM_KEY = 'e2e-platform-admin-key-0123456789';
/** Enough steps at a high rate for a rank-8 adapter to memorise its partition's canaries. */
const HYPERPARAMETERS = {
  max_steps: 60,
  batch_size: 4,
  max_sequence_length: 160,
  learning_rate: 2e-2,
  rank: 8,
  seed: 11,
};

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

/** A recipe with a unique random canary: what only a model that trained on it could predict. */
function canaryDocuments(count: number, seed: number): string[] {
  const random = seededRandom(seed);
  const letters = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return domainTexts('recipes', count, seed).map(
    (text) =>
      `${text} the vault code is ${Array.from({ length: 14 }, () => letters[Math.floor(random() * letters.length)]).join('')}.`,
  );
}

type Trace = { adapters: { name: string }[] };

describe('AdapterSwap: partitions per access group, continual training, deletion with a proof', () => {
  let dataDir: string;
  let gateway: GatewayProcess;
  let worker: WorkerProcess;
  let admin: TesseraApi;
  let adminKey: string;
  let tenantId: string;
  const keys: Record<'a' | 'b' | 'ab', string> = { a: '', b: '', ab: '' };
  let groupA: string;
  let groupB: string;
  let dataset: string;
  const canaries = canaryDocuments(6, 5);
  const codeTexts = domainTexts('code', 6, 5);

  const http = (method: string, url: string, body?: unknown, key = adminKey) =>
    jsonCall(gateway.url, key, method, url, body);
  const upload = async (name: string, lines: { text: string; document_id: string; access_group?: string }[]) => {
    const created = await unwrap(admin.POST('/v1/datasets', { body: { name, format: 'text' } }));
    await putDatasetContent(gateway.url, adminKey, created.id, lines);
    return created.id;
  };
  const until = <T>(
    what: string,
    read: () => Promise<T>,
    ready: (value: T) => boolean,
    failed: (value: T) => boolean = () => false,
  ) => untilReady(what, read, ready, failed, () => worker.output());
  const fineTuneDone = (id: string) =>
    until(
      `fine-tune ${id}`,
      async () =>
        (await http('GET', `/v1/fine-tunes/${id}`)).body as {
          status: string;
          partitions: { adapter_id: string; access_group_id: string | null }[] | null;
          adapter_id: string | null;
        },
      (f) => f.status === 'succeeded',
      (f) => f.status === 'failed',
    );
  const weightsOf = async (adapterId: string, version: number) => {
    const response = await fetch(
      `${gateway.url}/v1/adapters/${adapterId}/versions/${version}/adapter_model.safetensors`,
      { headers: { authorization: `Bearer ${adminKey}` } },
    );
    assert.equal(response.status, 200, await response.clone().text());
    return Buffer.from(await response.arrayBuffer());
  };
  const routed = async (key: string, prompt: string) => {
    const answer = await http('POST', '/v1/completions', { model: 'kb', prompt, max_tokens: 4, temperature: 0 }, key);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return (answer.body.routing as Trace).adapters.map((a) => a.name);
  };

  let workerEnv: Record<string, string>;
  let receiver: WebhookReceiver;
  let partitionA: string;
  let partitionB: string;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-swap-'));
    receiver = await startWebhookReceiver();
    const env = {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      DATABASE_URL: requiredEnv('TEST_DATABASE_URL'),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      DATA_DIR: dataDir,
      QUEUE_PREFIX: `e2e-swap-${process.pid}`,
    };
    gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: PLATFORM_KEY });
    workerEnv = {
      ...env,
      WORKER_THREADS: '2',
      INFER_SLOTS: '8',
      LOCK_DURATION_MS: '3000',
      STALLED_INTERVAL_MS: '1000',
    };
    worker = await startWorkerProcess(workerEnv);
    const platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
    const tenant = await unwrap(platform.POST('/v1/tenants', { body: { name: 'Swap' } }));
    adminKey = shownSecret(tenant.api_key);
    tenantId = tenant.tenant.id;
    admin = createTesseraClient({ baseUrl: gateway.url, apiKey: adminKey });
    groupA = (await unwrap(admin.POST('/v1/groups', { body: { name: 'kitchen' } }))).id;
    groupB = (await unwrap(admin.POST('/v1/groups', { body: { name: 'engineering' } }))).id;
    for (const [name, groups] of [
      ['a', [groupA]],
      ['b', [groupB]],
      ['ab', [groupA, groupB]],
    ] as const) {
      const key = await unwrap(admin.POST('/v1/api-keys', { body: { name, scopes: ['infer', 'read'] } }));
      for (const group of groups)
        await unwrap(
          admin.POST('/v1/groups/{group_id}/members', {
            params: { path: { group_id: group } },
            body: { api_key_id: key.id },
          }),
        );
      keys[name] = shownSecret(key);
    }
    // Interleaved, so partitions must pick their documents out of the file.
    await unwrap(
      admin.POST('/v1/webhooks', {
        body: { url: receiver.url, event_types: ['adapter.stale', 'deletion.completed', 'fine_tune.succeeded'] },
      }),
    );
    dataset = await upload(
      'knowledge',
      canaries.flatMap((text, i) => [
        { text, document_id: `recipe-${i}`, access_group: 'kitchen' },
        { text: codeTexts[i]!, document_id: `code-${i}`, access_group: 'engineering' },
      ]),
    );
    // Never trained on: the baseline of unseen canaries the proof compares with.
    await upload(
      'controls',
      canaryDocuments(8, 77).map((text, i) => ({ text, document_id: `control-${i}`, access_group: 'kitchen' })),
    );
    const job = await http('POST', '/v1/fine-tunes', {
      base_model: 'tessera-demo',
      dataset_id: dataset,
      adapter_name: 'kb',
      partition_by: 'access_group',
      hyperparameters: HYPERPARAMETERS,
      validation_split: 0,
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    const done = await fineTuneDone(job.body.id);
    assert.equal(done.partitions!.length, 2);
    partitionA = done.partitions!.find((p) => p.access_group_id === groupA)!.adapter_id;
    partitionB = done.partitions!.find((p) => p.access_group_id === groupB)!.adapter_id;
  });

  after(async () => {
    await worker?.stop();
    assert.equal(await gateway.stop(), 0);
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("access: a caller in one group never gets the other group's partition, even where its data answers best; with both groups they compose", async () => {
    const names = async (id: string) => (await http('GET', `/v1/adapters/${id}`)).body.name as string;
    const [a, b] = [await names(partitionA), await names(partitionB)];
    const codePrompt = codeTexts[0]!.slice(0, 40);
    const recipePrompt = canaries[0]!.slice(0, 40);
    assert.deepEqual(await routed(keys.a, codePrompt), [a], 'group A asked code: only its own partition');
    assert.deepEqual(await routed(keys.b, recipePrompt), [b], 'group B asked for a recipe: only its own partition');
    assert.deepEqual(await routed(keys.ab, codePrompt), [b]);
    assert.deepEqual(await routed(keys.ab, recipePrompt), [a]);
    const both = await http(
      'POST',
      '/v1/completions',
      { model: 'kb', prompt: recipePrompt, max_tokens: 4, temperature: 0, routing: { mode: 'auto', top_k: 2 } },
      keys.ab,
    );
    assert.deepEqual((both.body.routing as Trace).adapters.map((x) => x.name).sort(), [a, b].sort());
  });

  it("continual: new documents train a new partition and leave every existing adapter's bytes unchanged", async () => {
    const before = [await weightsOf(partitionA, 1), await weightsOf(partitionB, 1)];
    const again = await http('POST', '/v1/fine-tunes', {
      base_model: 'tessera-demo',
      dataset_id: dataset,
      adapter_name: 'kb',
      partition_by: 'access_group',
      hyperparameters: HYPERPARAMETERS,
    });
    assert.equal(again.status, 409, 'every document is already in a partition');
    const more = await upload(
      'more',
      domainTexts('weather', 6, 9).map((text, i) => ({ text, document_id: `weather-${i}`, access_group: 'kitchen' })),
    );
    const job = await http('POST', '/v1/fine-tunes', {
      base_model: 'tessera-demo',
      dataset_id: more,
      adapter_name: 'kb',
      partition_by: 'access_group',
      hyperparameters: { ...HYPERPARAMETERS, max_steps: 10 },
      validation_split: 0,
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    const done = await fineTuneDone(job.body.id);
    assert.equal(done.partitions!.length, 1);
    assert.ok(![partitionA, partitionB].includes(done.partitions![0]!.adapter_id));
    assert.deepEqual([await weightsOf(partitionA, 1), await weightsOf(partitionB, 1)], before);
  });

  it("deletion: the canary's partition leaves routing, its weights are erased, it is retrained (through a second deletion and a killed worker) to the bytes of a training without the documents, and the proof shows the canary now looks unseen", async () => {
    const oldVersion = (await http('GET', `/v1/adapters/${partitionA}/versions`)).body.data[0] as {
      weights_sha256: string;
    };
    // The filesystem blob store's layout: blobs/<tenant>/<first two hex digits>/<sha256>.
    const blobPath = path.join(
      dataDir,
      'blobs',
      tenantId,
      oldVersion.weights_sha256.slice(0, 2),
      oldVersion.weights_sha256,
    );
    assert.ok(existsSync(blobPath));

    const unknown = await http('DELETE', `/v1/datasets/${dataset}/documents/no-such-document`);
    assert.equal(unknown.status, 404);
    const requested = await http('DELETE', `/v1/datasets/${dataset}/documents/recipe-0`);
    assert.equal(requested.status, 202, JSON.stringify(requested.body));
    assert.equal(requested.body.affected_versions.length, 1);
    const versions = (await http('GET', `/v1/adapters/${partitionA}/versions`)).body.data as {
      version: number;
      status: string;
    }[];
    assert.equal(versions.find((v) => v.version === 1)!.status, 'stale', 'stale at once');
    const twice = await http('DELETE', `/v1/datasets/${dataset}/documents/recipe-0`);
    assert.equal(twice.status, 409, 'a document already being deleted');

    // While the partition retrains: a second deletion in the same partition, then the worker is killed.
    const deletionOf = (id: string) => http('GET', `/v1/deletions/${id}`).then((r) => r.body);
    await until(
      'the retrain to start',
      () => deletionOf(requested.body.id),
      (d) => d.steps.some((s: { name: string }) => s.name === 'weights_erased'),
      (d) => d.status === 'completed' || d.status === 'failed',
    );
    const second = await http('DELETE', `/v1/datasets/${dataset}/documents/recipe-5`);
    assert.equal(second.status, 202, JSON.stringify(second.body));
    // The stale version, and the replacement in training if it was made before this request.
    assert.ok(second.body.affected_versions.includes(requested.body.affected_versions[0]));
    await worker.kill();
    worker = await startWorkerProcess(workerEnv);

    const completed = (id: string) =>
      until(
        `deletion ${id}`,
        () => deletionOf(id),
        (d) => d.status === 'completed',
        (d) => d.status === 'failed',
      );
    const deletion = await completed(requested.body.id);
    const later = await completed(second.body.id);
    assert.deepEqual(
      deletion.steps.map((s: { name: string }) => s.name),
      [...DELETION_STEP_NAMES],
    );
    const proof = deletion.proof;
    const held = proof.held_out;
    console.log(
      `canary loss: before ${proof.deleted_loss_before.toFixed(3)}, after ${proof.deleted_loss_after.toFixed(3)}; never-seen canaries ${held.mean.toFixed(3)} ± ${held.std.toFixed(3)} (min ${held.min.toFixed(3)}, max ${held.max.toFixed(3)}, n ${held.count}); second deletion: before ${later.proof.deleted_loss_before.toFixed(3)}, after ${later.proof.deleted_loss_after.toFixed(3)}`,
    );
    assert.ok(
      proof.deleted_loss_before < held.min,
      `before deletion the canary is far more likely than never-seen ones: ${proof.deleted_loss_before} vs ${held.min}`,
    );
    assert.ok(
      proof.deleted_loss_after >= held.mean - 2 * held.std,
      `after deletion it looks unseen: ${proof.deleted_loss_after} vs ${held.mean} ± ${held.std}`,
    );
    assert.equal(proof.verdict, 'looks_unseen', proof.verdict_reason);
    // The second deletion was audited while the partition was already out of routing (stale by the
    // first): its text never scored like trained text then, so its proof cannot say it was forgotten.
    assert.equal(later.proof.verdict, 'inconclusive', later.proof.verdict_reason);
    assert.match(later.proof.verdict_reason, /never scored like trained text/);
    const stale = await receiver.event('adapter.stale', partitionA);
    assert.equal(stale.data.deletion_id, requested.body.id);
    const announced = await receiver.event('deletion.completed', requested.body.id);
    assert.deepEqual(announced.data.proof, proof, 'deletion.completed carries the proof');
    // Nothing stale was ever made live again; one version is live (two retrains racing to the same documents keep one).
    const finalVersions = (
      (await http('GET', `/v1/adapters/${partitionA}/versions`)).body.data as { version: number; status: string }[]
    ).sort((a, b) => a.version - b.version);
    const ready = finalVersions.filter((v) => v.status === 'ready');
    assert.equal(ready.length, 1, JSON.stringify(finalVersions));
    assert.equal(finalVersions[0]!.status, 'stale');
    const live = ready[0]!.version;

    // The old weights are gone: their content address no longer reads.
    assert.equal(existsSync(blobPath), false);
    const erased = await fetch(`${gateway.url}/v1/adapters/${partitionA}/versions/1/adapter_model.safetensors`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    assert.equal(erased.status, 409);
    // The live version is exactly what training the partition from scratch without the two documents gives.
    const scratch = await upload(
      'scratch',
      canaries.slice(1, 5).map((text, i) => ({ text, document_id: `recipe-${i + 1}` })),
    );
    const job = await http('POST', '/v1/fine-tunes', {
      base_model: 'tessera-demo',
      dataset_id: scratch,
      adapter_name: 'scratch',
      hyperparameters: HYPERPARAMETERS,
      validation_split: 0,
    });
    const done = await fineTuneDone(job.body.id);
    assert.ok(
      (await weightsOf(partitionA, live)).equals(await weightsOf(done.adapter_id!, 1)),
      'retrained bytes equal a from-scratch training without the documents',
    );
    const name = (await http('GET', `/v1/adapters/${partitionA}`)).body.name as string;
    assert.deepEqual(await routed(keys.a, canaries[1]!), [name], 'the retrained partition is live again');
    // The document's text left its dataset.
    const documents = (await http('GET', `/v1/datasets/${dataset}/documents?limit=100`)).body.data as {
      document_id: string;
      status: string;
    }[];
    assert.deepEqual(
      documents
        .filter((d) => d.status === 'deleted')
        .map((d) => d.document_id)
        .sort(),
      ['recipe-0', 'recipe-5'],
    );
  });
});
