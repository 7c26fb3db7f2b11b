export { addressProblem, postToTarget, resolveWebhookTarget, webhookUrlProblem } from './address-guard.js';
export type { Resolver, WebhookResponse, WebhookTarget } from './address-guard.js';
export { attemptDelivery } from './delivery.js';
export type { DeliverySettings } from './delivery.js';
export { enqueueDeliveries } from './events.js';
export { isLegacyPlaintext, WebhookSecretBox } from './secret-box.js';
export { webhookSecretBox, webhookSecretKeyEnv, webhookSecretKeyInProduction } from './secret-key-env.js';
export { newWebhookSecret, signWebhook, verifyWebhook, webhookHeaders } from './standard-webhooks.js';
