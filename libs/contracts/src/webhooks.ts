import { z } from 'zod';
import { idSchema } from './id.js';
import { shownOnceSecret } from './shown-once.js';
import { text } from './text.js';

const timestamp = z.iso.datetime();

/** The events Tessera sends (Standard Webhooks thin payloads: `{type, timestamp, data: {id, …}}`). */
export const WEBHOOK_EVENT_TYPES = [
  'fine_tune.succeeded',
  'fine_tune.failed',
  'fine_tune.cancelled',
  'adapter.ready',
  'adapter.stale',
  'deletion.completed',
  'composition.ready',
  'composition.stale',
] as const;
export const webhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES).meta({ id: 'WebhookEventType' });
export type WebhookEventType = z.infer<typeof webhookEventTypeSchema> | 'ping';

const url = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .describe(
    'http(s) URL; a host that resolves to anything but public unicast addresses (private, loopback, link-local, reserved, multicast, NAT64, … every IANA special-purpose range) is refused unless the platform allows private addresses; deliveries connect only to the address checked and follow no redirects',
  );

export const webhookEndpointSchema = z
  .object({
    id: idSchema('wh'),
    url: z.string(),
    description: z.string().nullable(),
    event_types: z.array(webhookEventTypeSchema).describe('Empty: every event type'),
    enabled: z.boolean(),
    disabled_at: timestamp
      .nullable()
      .describe('When delivery stopped: the receiver answered 410 Gone, or the endpoint was disabled'),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'WebhookEndpoint' });
export type WebhookEndpointDto = z.infer<typeof webhookEndpointSchema>;

export const createdWebhookEndpointSchema = webhookEndpointSchema
  .extend({ secret: shownOnceSecret('The whsec_… signing secret.') })
  .meta({ id: 'CreatedWebhookEndpoint' });

export const createWebhookEndpointSchema = z
  .strictObject({
    url,
    description: text(500).optional(),
    event_types: z.array(webhookEventTypeSchema).max(WEBHOOK_EVENT_TYPES.length).optional(),
  })
  .meta({ id: 'CreateWebhookEndpointRequest' });
export type CreateWebhookEndpoint = z.infer<typeof createWebhookEndpointSchema>;

export const updateWebhookEndpointSchema = z
  .strictObject({
    url: url.optional(),
    description: text(500).nullable().optional(),
    event_types: z.array(webhookEventTypeSchema).max(WEBHOOK_EVENT_TYPES.length).optional(),
    enabled: z.boolean().optional(),
  })
  .meta({ id: 'UpdateWebhookEndpointRequest' });
export type UpdateWebhookEndpoint = z.infer<typeof updateWebhookEndpointSchema>;

export const webhookAttemptSchema = z
  .object({
    attempt: z.number().int(),
    status_code: z.number().int().nullable(),
    latency_ms: z.number().int().nullable(),
    response_excerpt: z.string().nullable(),
    error: z.string().nullable(),
    created_at: timestamp,
  })
  .meta({ id: 'WebhookAttempt' });

export const webhookDeliverySchema = z
  .object({
    id: idSchema('whd'),
    endpoint_id: idSchema('wh'),
    event_id: idSchema('evt').describe('Also the webhook-id header: receivers deduplicate by it'),
    event_type: z.string(),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attempt_count: z.number().int(),
    next_attempt_at: timestamp.nullable(),
    attempts: z.array(webhookAttemptSchema),
    created_at: timestamp,
  })
  .meta({ id: 'WebhookDelivery' });
export type WebhookDeliveryDto = z.infer<typeof webhookDeliverySchema>;
