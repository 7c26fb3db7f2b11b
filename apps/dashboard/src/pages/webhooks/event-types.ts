import type { Schemas } from '@tessera/sdk';

type EventType = Schemas['WebhookEventType'];

/** Every event type an endpoint can subscribe to, with what fires it. */
export const EVENT_TYPES: Record<EventType, string> = {
  'fine_tune.succeeded': 'a fine-tune finished',
  'fine_tune.failed': 'a fine-tune failed',
  'fine_tune.cancelled': 'a fine-tune was cancelled',
  'adapter.ready': 'an adapter version is ready to serve',
  'adapter.stale': 'a deletion took an adapter version out of routing',
  'composition.ready': 'a composition was built (or rebuilt after a deletion)',
  'composition.stale': 'a deletion took a composition built on a stale version out of serving',
  'deletion.completed': 'a deletion finished, with its proof',
};

// A Record over the contract's enum: a new event type in the OpenAPI document fails the build until it is listed here.
export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as EventType[];
