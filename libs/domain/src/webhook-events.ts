import { newId, type WebhookEventType } from '@tessera/contracts';
import type { TenantTransaction } from '@tessera/db';

export interface RecordedEvent {
  eventId: string;
  deliveryIds: string[];
}

/** A webhook event to record with a transition: its type and thin payload. */
export interface WebhookNote {
  type: WebhookEventType;
  data: { id: string } & Record<string, unknown>;
}

/**
 * Records an event and one pending delivery per enabled endpoint that subscribes to its type,
 * inside the caller's transaction, so the event exists exactly when the change it reports does.
 * `endpointId` addresses one endpoint only (a test ping). Enqueue the deliveries after commit.
 */
export async function recordWebhookEvent(
  tx: TenantTransaction,
  tenantId: string,
  type: WebhookEventType,
  data: { id: string } & Record<string, unknown>,
  endpointId?: string,
): Promise<RecordedEvent> {
  const eventId = newId('evt');
  await tx.webhookEvent.create({
    data: { id: eventId, tenantId, type, payload: { type, timestamp: new Date().toISOString(), data } as never },
  });
  const endpoints = await tx.webhookEndpoint.findMany({
    where: {
      tenantId,
      enabled: true,
      ...(endpointId ? { id: endpointId } : { OR: [{ eventTypes: { isEmpty: true } }, { eventTypes: { has: type } }] }),
    },
    select: { id: true },
  });
  const deliveryIds = endpoints.map(() => newId('whd'));
  if (deliveryIds.length) {
    await tx.webhookDelivery.createMany({
      data: endpoints.map((e, i) => ({ id: deliveryIds[i]!, tenantId, endpointId: e.id, eventId })),
    });
  }
  return { eventId, deliveryIds };
}

/** Records each note; the deliveries of all of them, to enqueue after commit. */
export async function recordWebhookEvents(
  tx: TenantTransaction,
  tenantId: string,
  notes: readonly WebhookNote[],
): Promise<string[]> {
  const deliveryIds: string[] = [];
  for (const note of notes)
    deliveryIds.push(...(await recordWebhookEvent(tx, tenantId, note.type, note.data)).deliveryIds);
  return deliveryIds;
}
