import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Database } from '@tessera/db';
import { QUEUES, redisConnection, webhookQueue, type WebhookJobData } from '@tessera/queue';
import { attemptDelivery, verifyWebhook, webhookSecretBox } from '@tessera/webhooks';
import { Worker } from 'bullmq';
import pg from 'pg';
import { call, createTenant, startTestGateway, testConfig, type TestGateway } from './testing/test-gateway.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver whose answer the test sets: down (503), up (204) or gone (410). */
async function startReceiver() {
  const received: Received[] = [];
  let answer = 204;
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      response.writeHead(answer, { 'content-type': 'text/plain' }).end(answer >= 300 ? `answering ${answer}` : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    answer: (status: number) => (answer = status),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('webhooks: endpoints, signed deliveries with retries, delivery log, redelivery', () => {
  const prefix = `wh-${process.pid}`;
  const connection = redisConnection(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15');
  const queue = webhookQueue(connection, prefix);
  const database = new Database({ connectionString: process.env.TEST_DATABASE_URL!, maxConnections: 2 });
  let worker: Worker<WebhookJobData>;
  let gateway: TestGateway;
  let strictGateway: TestGateway;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  before(async () => {
    gateway = await startTestGateway({ QUEUE_PREFIX: prefix, WEBHOOK_ALLOW_PRIVATE: 'true' });
    strictGateway = await startTestGateway({ QUEUE_PREFIX: prefix });
    tenant = await createTenant(gateway);
    receiver = await startReceiver();
    // The worker's delivery consumer, in process, with a fast schedule: 4 attempts 0/100/200/300 ms apart.
    worker = new Worker<WebhookJobData>(
      QUEUES.webhooks,
      (job) =>
        attemptDelivery(database, queue, job.data, {
          retryScheduleMs: [0, 100, 200, 300],
          allowPrivateAddresses: true,
          timeoutMs: 2000,
          // The key the test gateway seals with (its configuration's).
          secretBox: webhookSecretBox(testConfig()),
        }),
      {
        connection,
        prefix,
        concurrency: 4,
      },
    );
  });
  after(async () => {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await database.disconnect();
    await gateway.close();
    await strictGateway.close();
    await receiver.close();
  });

  const admin = (method: string, path: string, body?: unknown) =>
    call(gateway, method, path, { key: tenant.adminKey, ...(body ? { body } : {}) });
  async function settled(endpointId: string, deliveryId: string) {
    for (let i = 0; i < 200; i++) {
      const delivery = (await admin('GET', `/v1/webhooks/${endpointId}/deliveries/${deliveryId}`)).body;
      if (delivery.status !== 'pending') return delivery;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`delivery ${deliveryId} never settled`);
  }

  it('refuses URLs that resolve to private or loopback addresses unless the platform allows them', async () => {
    const refused = await call(strictGateway, 'POST', '/v1/webhooks', {
      key: tenant.adminKey,
      body: { url: receiver.url },
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.errors[0].field, 'body.url');
    assert.match(refused.body.errors[0].message, /127\.0\.0\.1 is a loopback address, not a public one/);
    assert.equal(
      (await call(strictGateway, 'POST', '/v1/webhooks', { key: tenant.adminKey, body: { url: 'ftp://example.com/' } }))
        .status,
      400,
    );
  });

  it('shows the secret once; a ping arrives signed per Standard Webhooks', async () => {
    const created = await admin('POST', '/v1/webhooks', { url: receiver.url, event_types: ['fine_tune.succeeded'] });
    assert.equal(created.status, 201);
    assert.match(created.body.secret, /^whsec_/);
    assert.equal((await admin('GET', `/v1/webhooks/${created.body.id}`)).body.secret, undefined);
    const ping = await admin('POST', `/v1/webhooks/${created.body.id}/ping`);
    assert.equal(ping.status, 202);
    const delivery = await settled(created.body.id, ping.body.id);
    assert.equal(delivery.status, 'succeeded');
    const last = receiver.received.at(-1)!;
    assert.equal(last.headers['webhook-id'], delivery.event_id);
    assert.ok(verifyWebhook(created.body.secret, last.headers as Record<string, string>, last.body));
    assert.deepEqual(JSON.parse(last.body).data, { id: created.body.id });
    assert.equal(JSON.parse(last.body).type, 'ping');
  });

  it('receiver down, then up: retried on schedule until delivered, every attempt logged; redelivery by hand sends the same webhook-id', async () => {
    const endpoint = (await admin('POST', '/v1/webhooks', { url: receiver.url })).body;
    receiver.answer(503);
    const before = receiver.received.length;
    const ping = (await admin('POST', `/v1/webhooks/${endpoint.id}/ping`)).body;
    // Let two attempts fail, then bring the receiver up.
    for (let i = 0; receiver.received.length < before + 2; i++) {
      assert.ok(i < 200, 'the retries did not come');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    receiver.answer(204);
    const delivery = await settled(endpoint.id, ping.id);
    assert.equal(delivery.status, 'succeeded');
    assert.ok(delivery.attempts.length >= 3);
    assert.deepEqual(
      delivery.attempts.slice(0, 2).map((a: any) => [a.status_code, a.response_excerpt]),
      [
        [503, 'answering 503'],
        [503, 'answering 503'],
      ],
    );
    assert.equal(delivery.attempts.at(-1).status_code, 204);
    assert.ok(delivery.attempts.every((a: any) => Number.isInteger(a.latency_ms)));

    const redelivered = await admin('POST', `/v1/webhooks/${endpoint.id}/deliveries/${ping.id}/redeliver`);
    assert.equal(redelivered.status, 202);
    const again = await settled(endpoint.id, ping.id);
    assert.equal(again.attempts.length, delivery.attempts.length + 1);
    const ids = receiver.received.slice(before).map((r) => r.headers['webhook-id']);
    assert.ok(
      ids.every((id) => id === delivery.event_id),
      'every attempt carries the same webhook-id, so receivers can deduplicate',
    );
  });

  it('gives up after the last attempt of the schedule', async () => {
    const endpoint = (await admin('POST', '/v1/webhooks', { url: receiver.url })).body;
    receiver.answer(500);
    const ping = (await admin('POST', `/v1/webhooks/${endpoint.id}/ping`)).body;
    const delivery = await settled(endpoint.id, ping.id);
    receiver.answer(204);
    assert.equal(delivery.status, 'failed');
    assert.equal(delivery.attempts.length, 4);
    assert.equal(delivery.next_attempt_at, null);
  });

  describe('signing secrets at rest', () => {
    const owner = new pg.Client({ connectionString: process.env.TEST_OWNER_DATABASE_URL });
    before(() => owner.connect());
    after(() => owner.end());
    const storedSecret = async (id: string) =>
      (await owner.query('SELECT secret FROM webhook_endpoints WHERE id = $1', [id])).rows[0].secret as string;
    async function pingSigned(id: string, secret: string) {
      const ping = (await admin('POST', `/v1/webhooks/${id}/ping`)).body;
      assert.equal((await settled(id, ping.id)).status, 'succeeded');
      const last = receiver.received.at(-1)!;
      assert.equal(last.headers['webhook-id'], ping.event_id);
      assert.ok(verifyWebhook(secret, last.headers as Record<string, string>, last.body), 'signed with the secret');
    }

    it('are sealed in Postgres (AES-256-GCM), and deliveries are still signed with the secret', async () => {
      const created = (await admin('POST', '/v1/webhooks', { url: receiver.url })).body;
      const stored = await storedSecret(created.id);
      assert.match(stored, /^v1:[\w-]+:[\w-]+:[\w-]+$/);
      assert.ok(!stored.includes(created.secret.slice(6)), 'the row does not hold the secret in clear');
      await pingSigned(created.id, created.secret);
    });

    it("written in clear before encryption are still read, and sealed on the endpoint's next update", async () => {
      const created = (await admin('POST', '/v1/webhooks', { url: receiver.url })).body;
      await owner.query('UPDATE webhook_endpoints SET secret = $1 WHERE id = $2', [created.secret, created.id]);
      await pingSigned(created.id, created.secret);
      assert.equal((await admin('PATCH', `/v1/webhooks/${created.id}`, { description: 'sealed now' })).status, 200);
      assert.match(await storedSecret(created.id), /^v1:/);
      await pingSigned(created.id, created.secret);
    });

    it('a secret sealed for another endpoint does not sign: the attempt is logged as not sent', async () => {
      const first = (await admin('POST', '/v1/webhooks', { url: receiver.url })).body;
      const second = (await admin('POST', '/v1/webhooks', { url: receiver.url })).body;
      await owner.query('UPDATE webhook_endpoints SET secret = $1 WHERE id = $2', [
        await storedSecret(first.id),
        second.id,
      ]);
      const before = receiver.received.length;
      const ping = (await admin('POST', `/v1/webhooks/${second.id}/ping`)).body;
      const delivery = await settled(second.id, ping.id);
      assert.equal(delivery.status, 'failed');
      assert.match(delivery.attempts[0].error, /^not sent: .*does not open/);
      assert.equal(receiver.received.length, before);
    });
  });

  it('410 Gone disables the endpoint; no further deliveries', async () => {
    const endpoint = (await admin('POST', '/v1/webhooks', { url: receiver.url })).body;
    receiver.answer(410);
    const ping = (await admin('POST', `/v1/webhooks/${endpoint.id}/ping`)).body;
    const delivery = await settled(endpoint.id, ping.id);
    receiver.answer(204);
    assert.equal(delivery.status, 'failed');
    assert.equal(delivery.attempts.length, 1);
    const disabled = (await admin('GET', `/v1/webhooks/${endpoint.id}`)).body;
    assert.equal(disabled.enabled, false);
    assert.ok(disabled.disabled_at);
    assert.equal((await admin('POST', `/v1/webhooks/${endpoint.id}/ping`)).status, 409);
    // Enabled again by hand, it receives again.
    assert.equal((await admin('PATCH', `/v1/webhooks/${endpoint.id}`, { enabled: true })).body.enabled, true);
    const next = (await admin('POST', `/v1/webhooks/${endpoint.id}/ping`)).body;
    assert.equal((await settled(endpoint.id, next.id)).status, 'succeeded');
  });
});
