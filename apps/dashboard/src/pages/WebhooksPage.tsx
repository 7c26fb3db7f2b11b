import { useState } from 'react';
import { Page } from '../components/Page.js';
import { WebhookDetail } from './webhooks/WebhookDetail.js';
import { WebhookForm } from './webhooks/WebhookForm.js';
import { WebhookList } from './webhooks/WebhookList.js';

/** #/webhooks lists endpoints and creates them; #/webhooks/<id> shows one with its deliveries. */
export function WebhooksPage({ webhookId }: { webhookId?: string }) {
  const [creating, setCreating] = useState(false);
  if (webhookId) return <WebhookDetail webhookId={webhookId} />;
  return (
    <Page
      title="Webhooks"
      actions={
        <button
          type="button"
          className={creating ? 'secondary' : undefined}
          onClick={() => setCreating(!creating)}
          aria-expanded={creating}
        >
          {creating ? 'Close form' : 'New endpoint'}
        </button>
      }
    >
      {creating ? <WebhookForm /> : null}
      <WebhookList />
    </Page>
  );
}
