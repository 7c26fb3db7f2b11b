import { Page } from '../components/Page.js';

// Placeholder: being written.
export function WebhooksPage({ webhookId }: { webhookId?: string }) {
  return <Page title="Webhooks">{String(webhookId ?? '')}</Page>;
}
