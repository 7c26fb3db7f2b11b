import { newId, type WebhookEventType } from '@tessera/contracts';
import type { TenantTransaction } from '@tessera/db';
import type { WebhookJobData } from '@tessera/queue';
import type { Queue } from 'bullmq';

export interface RecordedEvent {
  eventId: string;
  deliveryIds: string[];
}

/**
 * Records an event and one pending delivery per enabled endpoint that subscribes to its type,
 * inside the caller's transaction, so the event exists exactly when the change it reports does.
 * `endpointId` addresses one endpoint only (a test ping).
 */
export async function recordWebhookEvent(tx: TenantTransaction, tenantId: string, type: WebhookEventType, data: { id: string } & Record<string, unknown>, endpointId?: string): Promise<RecordedEvent> {
  const eventId = newId('evt');
  await tx.webhookEvent.create({ data: { id: eventId, tenantId, type, payload: { type, timestamp: new Date().toISOString(), data } as never } });
  const endpoints = await tx.webhookEndpoint.findMany({
    where: { tenantId, enabled: true, ...(endpointId ? { id: endpointId } : { OR: [{ eventTypes: { isEmpty: true } }, { eventTypes: { has: type } }] }) },
    select: { id: true },
  });
  const deliveryIds = endpoints.map(() => newId('whd'));
  if (deliveryIds.length) {
    await tx.webhookDelivery.createMany({ data: endpoints.map((e, i) => ({ id: deliveryIds[i]!, tenantId, endpointId: e.id, eventId })) });
  }
  return { eventId, deliveryIds };
}

/** After the transaction commits: the first attempt of each delivery, on the webhooks queue. */
export async function enqueueDeliveries(queue: Queue<WebhookJobData>, tenantId: string, deliveryIds: readonly string[], attempt = 1): Promise<void> {
  if (deliveryIds.length === 0) return;
  await queue.addBulk(deliveryIds.map((deliveryId) => ({ name: 'deliver', data: { deliveryId, tenantId, attempt }, opts: { jobId: `${deliveryId}-${attempt}`, removeOnComplete: 1000, removeOnFail: 5000 } })));
}
