import type { WebhookDeliveryDto, WebhookEndpointDto } from '@tessera/contracts';
import type { WebhookAttemptModel, WebhookDeliveryModel, WebhookEndpointModel, WebhookEventModel } from '@tessera/db';

export function toEndpointDto(row: WebhookEndpointModel): WebhookEndpointDto {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    event_types: row.eventTypes as WebhookEndpointDto['event_types'],
    enabled: row.enabled,
    disabled_at: row.disabledAt?.toISOString() ?? null,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export function toDeliveryDto(
  row: WebhookDeliveryModel & { event: WebhookEventModel; attempts: WebhookAttemptModel[] },
): WebhookDeliveryDto {
  return {
    id: row.id,
    endpoint_id: row.endpointId,
    event_id: row.eventId,
    event_type: row.event.type,
    status: row.status,
    attempt_count: row.attemptCount,
    next_attempt_at: row.nextAttemptAt?.toISOString() ?? null,
    attempts: [...row.attempts]
      .sort((a, b) => a.attemptNumber - b.attemptNumber)
      .map((a) => ({
        attempt: a.attemptNumber,
        status_code: a.statusCode,
        latency_ms: a.latencyMs,
        response_excerpt: a.responseExcerpt,
        error: a.error,
        created_at: a.createdAt.toISOString(),
      })),
    created_at: row.createdAt.toISOString(),
  };
}
