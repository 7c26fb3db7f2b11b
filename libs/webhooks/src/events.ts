import { deliveryQueueEntry, type WebhookJobData } from '@tessera/queue';
import type { Queue } from 'bullmq';

/** After the transaction that recorded the events commits: the first attempt of each delivery, on the webhooks queue. */
export async function enqueueDeliveries(
  queue: Queue<WebhookJobData>,
  tenantId: string,
  deliveryIds: readonly string[],
  attempt = 1,
): Promise<void> {
  if (deliveryIds.length === 0) return;
  await queue.addBulk(deliveryIds.map((deliveryId) => deliveryQueueEntry(deliveryId, tenantId, attempt)));
}
