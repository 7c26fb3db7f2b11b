import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { domainTexts } from '@tessera/engine';
import pg from 'pg';
import { jsonCall, putDatasetContent, until as untilReady } from './api-calls.js';
import { FaultProxy, OwnRedis } from './fault-services.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

const PLATFORM_KEY = 'e2e-platform-admin-key-0123456789';
const QUICK = { max_steps: 12, batch_size: 4, max_sequence_length: 64, learning_rate: 2e-2, rank: 4, seed: 5 };

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

/** The test runner's database helpers (infra/scripts/lib/services.mjs), loaded at run time. */
const SERVICES = new URL('../../infra/scripts/lib/services.mjs', import.meta.url).href;
interface ServicesScript {
  withDatabase(url: string, database: string): string;
  withUser(url: string, user: string): string;
  ensureDatabase(url: string, options: { recreate: boolean }): Promise<void>;
  applyMigrations(url: string): Promise<void>;
}

async function dropDatabase(url: string): Promise<void> {
  const maintenance = new URL(url);
  const name = maintenance.pathname.slice(1);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await client.end();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The platform through faults of its own Postgres connection (a proxy it stops and starts)
 * and its own Redis (a redis-server it kills, restarts empty and freezes), with the gateway
 * and a worker as processes. Postgres stays the source of truth: whatever it accepted ends.
 */
describe('faults: outages answer 503, and accepted work survives Redis and Postgres going away', () => {
  let dataDir: string;
  let postgres: FaultProxy;
  let redis: OwnRedis;
  let gateway: GatewayProcess;
  let worker: WorkerProcess | undefined;
  let receiver: WebhookReceiver;
  let env: Record<string, string>;
  let key: string;
  let dataset: string;
  let webhookId: string;
  let ownDatabase: string | undefined;

  const http = (method: string, url: string, body?: unknown) => jsonCall(gateway.url, key, method, url, body);
  const until = <T>(what: string, read: () => Promise<T>, ready: (v: T) => boolean, failed: (v: T) => boolean) =>
    untilReady(what, read, ready, failed, () => `${worker?.output() ?? ''}\n${gateway.output()}`);
  const startWorker = async () =>
    (worker = await startWorkerProcess({
      ...env,
      WORKER_THREADS: '1',
      LOG_LEVEL: 'warn',
      LOCK_DURATION_MS: '3000',
      STALLED_INTERVAL_MS: '1000',
      RECONCILE_INTERVAL_MS: '1000',
      RECONCILE_SETTLE_MS: '1000',
      WEBHOOK_RETRY_SCHEDULE_MS: '0,500,1000,1000,1000',
    }));
  const fineTuneEnded = (id: string) =>
    until(
      `fine-tune ${id}`,
      async () => (await http('GET', `/v1/fine-tunes/${id}`)).body,
      (f) => ['succeeded', 'failed', 'cancelled'].includes(f.status),
      () => false,
    );

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-faults-'));
    // A database of its own: its worker's reconciler takes up every unfinished row it finds,
    // which in the shared test database would be other test files' work.
    const services = (await import(SERVICES)) as ServicesScript;
    ownDatabase = services.withDatabase(requiredEnv('TEST_OWNER_DATABASE_URL'), `tessera_faults_${process.pid}`);
    await services.ensureDatabase(ownDatabase, { recreate: true });
    await services.applyMigrations(ownDatabase);
    const database = new URL(services.withUser(ownDatabase, 'tessera_app'));
    postgres = new FaultProxy(database.hostname, Number(database.port || 5432));
    await postgres.start();
    database.port = String(postgres.port);
    redis = new OwnRedis(await freePort());
    await redis.start();
    receiver = await startWebhookReceiver();
    env = {
      DATABASE_URL: database.toString(),
      REDIS_URL: redis.url,
      DATA_DIR: dataDir,
      QUEUE_PREFIX: 'faults',
      WEBHOOK_ALLOW_PRIVATE: 'true',
    };
    gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: PLATFORM_KEY });
    await startWorker();
    const created = await jsonCall(gateway.url, PLATFORM_KEY, 'POST', '/v1/tenants', { name: 'Faults' });
    key = created.body.api_key.secret;
    const made = await http('POST', '/v1/datasets', { name: 'recipes', format: 'text' });
    dataset = made.body.id;
    await putDatasetContent(
      gateway.url,
      key,
      dataset,
      domainTexts('recipes', 12, 8).map((text, i) => ({ text, document_id: `r${i}` })),
    );
    const endpoint = await http('POST', '/v1/webhooks', { url: receiver.url, event_types: ['deletion.completed'] });
    assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
    webhookId = endpoint.body.id;
  });

  after(async () => {
    await worker?.stop();
    await gateway?.stop();
    await redis?.kill();
    await postgres?.stop();
    await receiver?.close();
    await rm(dataDir, { recursive: true, force: true });
    if (ownDatabase) await dropDatabase(ownDatabase);
  });

  it("a cold gateway's first burst of concurrent completions is served: no 5xx", async () => {
    const answers = await Promise.all(
      Array.from({ length: 64 }, () =>
        http('POST', '/v1/completions', { model: 'tessera-demo', prompt: 'mix', max_tokens: 2, temperature: 0 }),
      ),
    );
    assert.deepEqual(
      answers.map((a) => a.status).filter((status) => status !== 200),
      [],
      JSON.stringify(answers.find((a) => a.status !== 200)?.body),
    );
  });

  it('Postgres down: every route class answers 503 with Retry-After, and serves again once it is back', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/v1/adapters'],
      ['GET', `/v1/datasets/${dataset}`],
      ['POST', '/v1/groups', { name: 'during-outage' }],
      ['POST', '/v1/fine-tunes', { base_model: 'tessera-demo', dataset_id: dataset, adapter_name: 'x' }],
      ['POST', '/v1/completions', { model: 'tessera-demo', prompt: 'mix', max_tokens: 2 }],
      ['POST', '/v1/chat/completions', { model: 'tessera-demo', messages: [{ role: 'user', content: 'hi' }] }],
      ['GET', '/v1/models'],
    ];
    await postgres.stop();
    try {
      for (const [method, url, body] of routes) {
        const response = await fetch(`${gateway.url}${url}`, {
          method,
          headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        const text = await response.text();
        assert.equal(response.status, 503, `${method} ${url}: ${text}`);
        assert.ok(Number(response.headers.get('retry-after')) > 0, `${method} ${url} has Retry-After`);
        assert.equal(JSON.parse(text).type, '/problems/unavailable');
      }
      const upload = await fetch(`${gateway.url}/v1/datasets/${dataset}/content`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
        body: '{"text":"a"}\n',
      });
      assert.equal(upload.status, 503, 'an upload');
      const ready = await fetch(`${gateway.url}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { checks: { postgres: { ok: boolean } } }).checks.postgres.ok, false);
    } finally {
      await postgres.start();
    }
    assert.equal((await http('GET', '/v1/adapters')).status, 200);
    const groups = (await http('GET', '/v1/groups')).body.data.map((g: { name: string }) => g.name);
    assert.ok(!groups.includes('during-outage'), 'nothing was written while Postgres was down');
  });

  it('Redis hung (SIGSTOP): requests answer 503 within 3 s, and are served once it answers again', async () => {
    redis.freeze();
    try {
      for (const [method, url, body] of [
        ['GET', '/v1/adapters'],
        ['POST', '/v1/completions', { model: 'tessera-demo', prompt: 'mix', max_tokens: 2 }],
      ] as const) {
        const started = performance.now();
        const response = await fetch(`${gateway.url}${url}`, {
          method,
          headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(10_000),
        });
        const elapsed = performance.now() - started;
        assert.equal(response.status, 503, `${method} ${url}: ${await response.text()}`);
        assert.ok(response.headers.get('retry-after'));
        assert.ok(elapsed < 3_000, `${method} ${url} answered in ${Math.round(elapsed)} ms`);
      }
    } finally {
      redis.thaw();
    }
    await until(
      'the gateway after Redis thawed',
      async () => (await http('GET', '/v1/adapters')).status,
      (s) => s === 200,
      () => false,
    );
  });

  it('Redis restarted empty: accepted fine-tunes, a knowledge base, a composition, a deletion and a webhook all complete', async () => {
    const merged = await http('POST', '/v1/fine-tunes', {
      base_model: 'tessera-demo',
      dataset_id: dataset,
      adapter_name: 'member',
      hyperparameters: QUICK,
      validation_split: 0,
    });
    assert.equal((await fineTuneEnded(merged.body.id)).status, 'succeeded');

    // Accepted while no worker runs: Redis holds their entries, and then loses them.
    await worker!.stop();
    const fineTune = await http('POST', '/v1/fine-tunes', {
      base_model: 'tessera-demo',
      dataset_id: dataset,
      adapter_name: 'late',
      hyperparameters: QUICK,
      validation_split: 0,
    });
    const knowledgeBase = await http('POST', '/v1/fine-tunes', {
      base_model: 'tessera-demo',
      dataset_id: dataset,
      adapter_name: 'kb',
      partition_by: 'access_group',
      hyperparameters: QUICK,
      validation_split: 0,
    });
    const composition = await http('POST', '/v1/compositions', {
      name: 'blend',
      method: 'linear',
      members: [{ adapter: 'member', weight: 1 }],
    });
    const extra = await http('POST', '/v1/datasets', { name: 'to-forget', format: 'text' });
    await putDatasetContent(gateway.url, key, extra.body.id, [{ text: 'forget me', document_id: 'gone' }]);
    const deletion = await http('POST', '/v1/deletions', {
      documents: [{ dataset_id: extra.body.id, document_id: 'gone' }],
    });
    const ping = await http('POST', `/v1/webhooks/${webhookId}/ping`);
    for (const created of [fineTune, knowledgeBase, composition, deletion, ping])
      assert.ok([200, 201, 202].includes(created.status), JSON.stringify(created.body));

    await redis.kill();
    await redis.start();
    await startWorker();

    assert.equal((await fineTuneEnded(fineTune.body.id)).status, 'succeeded');
    assert.equal((await fineTuneEnded(knowledgeBase.body.id)).status, 'succeeded');
    await until(
      'the composition',
      async () => (await http('GET', `/v1/compositions/${composition.body.id}`)).body,
      (c) => c.status === 'ready',
      (c) => c.status === 'failed',
    );
    await until(
      'the deletion',
      async () => (await http('GET', `/v1/deletions/${deletion.body.id}`)).body,
      (d) => d.status === 'completed',
      (d) => d.status === 'failed',
    );
    await until(
      'the ping',
      async () => (await http('GET', `/v1/webhooks/${webhookId}/deliveries/${ping.body.id}`)).body,
      (d) => d.status === 'succeeded',
      (d) => d.status === 'failed',
    );
    const queues = await http('GET', '/v1/queues');
    assert.equal(queues.status, 200);
    // Every client listens for its connection errors: none printed one per reconnect attempt.
    assert.ok(!gateway.output().includes('Unhandled error event'), 'the gateway reported the outage, not each retry');
  });

  it('Postgres stopped and started during a webhook call, a fine-tune and its events stream: no row stays stuck', async () => {
    // The events stream of a fine-tune that is training when Postgres goes away.
    const job = await http('POST', '/v1/fine-tunes', {
      base_model: 'tessera-demo',
      dataset_id: dataset,
      adapter_name: 'through-outage',
      hyperparameters: { ...QUICK, max_steps: 40, checkpoint_every: 5 },
      validation_split: 0,
    });
    await until(
      'training to start',
      async () => (await http('GET', `/v1/fine-tunes/${job.body.id}`)).body,
      (f) => f.status === 'running' && f.progress > 0,
      (f) => f.status !== 'queued' && f.status !== 'running',
    );
    // Open before the outage: the request's own lookups (key, job) must not meet it.
    const streaming = await fetch(`${gateway.url}/v1/fine-tunes/${job.body.id}/events`, {
      headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    });
    assert.equal(streaming.status, 200);
    const stream = streaming.text();

    // The receiver takes the ping, then Postgres goes away before the worker records the answer.
    // It waits for the gateway's 202 first: a worker quick enough to deliver while the gateway
    // was still answering would otherwise take Postgres away from the ping request itself.
    let pingAnswered!: () => void;
    const answered = new Promise<void>((resolve) => (pingAnswered = resolve));
    receiver.beforeAnswer = async () => {
      receiver.beforeAnswer = undefined;
      await answered;
      await postgres.stop();
      setTimeout(() => void postgres.start(), 3_000);
    };
    const received = receiver.received.length;
    const ping = await http('POST', `/v1/webhooks/${webhookId}/ping`).finally(() => pingAnswered());
    assert.equal(ping.status, 202, JSON.stringify(ping.body));

    const delivery = await until(
      'the ping through the outage',
      async () => {
        const read = await http('GET', `/v1/webhooks/${webhookId}/deliveries/${ping.body.id}`).catch(() => null);
        return read?.status === 200 ? read.body : null;
      },
      (d) => d?.status === 'succeeded',
      (d) => d?.status === 'failed',
    );
    const sent = receiver.received.slice(received).map((r) => r.headers['webhook-id']);
    assert.ok(sent.length >= 2, `sent again after the lost write: ${sent.length}`);
    assert.ok(
      sent.every((id) => id === sent[0]),
      'the same webhook-id each time: receivers deduplicate',
    );
    assert.ok(delivery.attempts.length >= 1);

    assert.equal((await fineTuneEnded(job.body.id)).status, 'succeeded');
    const text = await stream;
    const events = [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
    assert.equal(
      events.at(-1),
      'end',
      `the stream ends with its end event: ${events.slice(-5).join(', ')}\n${text.slice(-600)}`,
    );
    assert.match(text, /event: end\ndata: \{"status":"succeeded"\}/);

    const stuck = await http('GET', '/v1/fine-tunes');
    assert.deepEqual(
      stuck.body.data.filter((f: { status: string }) => f.status === 'queued' || f.status === 'running'),
      [],
    );
    await sleep(0);
  });
});
