import { newId } from '@tessera/contracts';
import type { Database } from '@tessera/db';
import { moveWebhookDelivery } from '@tessera/domain';
import { deliveryQueueEntry, type WebhookJobData } from '@tessera/queue';
import type { Queue } from 'bullmq';
import { postToTarget, resolveWebhookTarget, type Resolver, type WebhookTarget } from './address-guard.js';
import type { WebhookSecretBox } from './secret-box.js';
import { webhookHeaders } from './standard-webhooks.js';

export interface DeliverySettings {
  /** Delay before each attempt, first to last (the first is usually 0). */
  retryScheduleMs: readonly number[];
  allowPrivateAddresses: boolean;
  timeoutMs: number;
  /** Opens the endpoint's stored signing secret (encrypted at rest under WEBHOOK_SECRET_KEY). */
  secretBox: WebhookSecretBox;
  /** The host-name resolver (the system's by default; tests give their own). */
  resolve?: Resolver;
}

const EXCERPT = 500;

/**
 * One attempt of one delivery: POST the event's thin payload, signed, and log the attempt.
 * 2xx ends the delivery; 410 Gone disables the endpoint; anything else schedules the next
 * attempt of the schedule, until it runs out. Stale or repeated jobs do nothing.
 */
export async function attemptDelivery(
  database: Database,
  queue: Queue<WebhookJobData>,
  job: WebhookJobData,
  settings: DeliverySettings,
): Promise<void> {
  const ctx = { tenantId: job.tenantId };
  const delivery = await database.withTenant(ctx, (tx) =>
    tx.webhookDelivery.findFirst({
      where: { id: job.deliveryId, tenantId: job.tenantId },
      include: { endpoint: true, event: true },
    }),
  );
  if (!delivery || delivery.status !== 'pending' || job.attempt !== delivery.attemptCount + 1) return;
  const { endpoint, event } = delivery;
  const body = JSON.stringify(event.payload);
  let statusCode: number | null = null;
  let excerpt: string | null = null;
  let error: string | null = null;
  const started = performance.now();
  // Resolved and checked once, then connected to exactly the address checked.
  const target = endpoint.enabled
    ? await resolveWebhookTarget(endpoint.url, settings.allowPrivateAddresses, settings.resolve)
    : { problem: 'the endpoint is disabled' };
  const signing = openSecret(settings.secretBox, endpoint);
  const problem = 'problem' in target ? target.problem : 'problem' in signing ? signing.problem : null;
  if (problem) error = `not sent: ${problem}`;
  else {
    try {
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'Tessera-Webhooks/1',
        ...webhookHeaders((signing as { secret: string }).secret, event.id, body),
      };
      const response = await postToTarget(target as WebhookTarget, body, headers, {
        timeoutMs: settings.timeoutMs,
        maxExcerpt: EXCERPT,
      });
      statusCode = response.statusCode;
      excerpt = response.excerpt;
    } catch (e) {
      const timedOut =
        (e as Error).name === 'TimeoutError' ||
        ((e as Error).name === 'AbortError' && (e as { cause?: Error }).cause?.name === 'TimeoutError');
      error = timedOut
        ? `no answer within ${settings.timeoutMs} ms`
        : `${(e as Error).message}${(e as { cause?: Error }).cause ? `: ${(e as { cause: Error }).cause.message}` : ''}`;
    }
  }
  const latencyMs = problem ? null : Math.round(performance.now() - started);
  const succeeded = statusCode !== null && statusCode >= 200 && statusCode < 300;
  const gone = statusCode === 410;
  const nextDelay = !succeeded && !gone && !problem ? settings.retryScheduleMs[job.attempt] : undefined;
  await database.withTenant(ctx, async (tx) => {
    await tx.webhookAttempt.create({
      data: {
        id: newId('wha'),
        tenantId: job.tenantId,
        deliveryId: delivery.id,
        attemptNumber: job.attempt,
        statusCode,
        latencyMs,
        responseExcerpt: excerpt,
        error,
      },
    });
    await moveWebhookDelivery(
      tx,
      job.tenantId,
      delivery.id,
      succeeded ? 'succeeded' : nextDelay === undefined ? 'failed' : 'pending',
      {
        data: {
          attemptCount: job.attempt,
          nextAttemptAt: nextDelay === undefined ? null : new Date(Date.now() + nextDelay),
        },
      },
    );
    // The receiver says the endpoint is gone for good: stop sending to it.
    if (gone)
      await tx.webhookEndpoint.update({ where: { id: endpoint.id }, data: { enabled: false, disabledAt: new Date() } });
  });
  if (nextDelay !== undefined) {
    const next = deliveryQueueEntry(delivery.id, job.tenantId, job.attempt + 1, nextDelay);
    await queue.add(next.name, next.data, next.opts);
  }
}

/**
 * The signing secret in clear, or why not: a worker whose WEBHOOK_SECRET_KEY is not the
 * gateway's logs the attempt as not sent (it names no secret), and redelivery works once fixed.
 */
function openSecret(box: WebhookSecretBox, endpoint: { id: string; secret: string }) {
  try {
    return { secret: box.open(endpoint.secret, endpoint.id) };
  } catch (e) {
    return { problem: (e as Error).message };
  }
}
