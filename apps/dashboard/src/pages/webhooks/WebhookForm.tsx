import { useMutation, useQueryClient } from '@tanstack/react-query';
import { unwrap, type Schemas } from '@tessera/sdk';
import { useState, type FormEvent } from 'react';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { SecretOnce } from '../../components/SecretOnce.js';
import { Link } from '../../router.js';
import { EVENT_TYPE_NAMES, EVENT_TYPES } from './event-types.js';
import './webhooks.css';

/** Creates an endpoint; its signing secret is in the create response only, so it is shown right here. */
export function WebhookForm() {
  const api = useApi();
  const queryClient = useQueryClient();
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [events, setEvents] = useState<Schemas['WebhookEventType'][]>([]);
  const [created, setCreated] = useState<Schemas['CreatedWebhookEndpoint'] | null>(null);

  const create = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/v1/webhooks', {
          body: {
            url: url.trim(),
            ...(description.trim() ? { description: description.trim() } : {}),
            ...(events.length ? { event_types: events } : {}),
          },
        }),
      ),
    onSuccess: async (endpoint) => {
      setCreated(endpoint);
      setUrl('');
      setDescription('');
      setEvents([]);
      await queryClient.invalidateQueries({ queryKey: ['webhooks'] });
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }

  return (
    <>
      {created ? (
        <div>
          <SecretOnce
            label={`Signing secret of ${created.url}`}
            secret={created.secret}
            onDismiss={() => setCreated(null)}
          />
          <Link to={`/webhooks/${created.id}`}>Open the endpoint</Link>
        </div>
      ) : null}
      <form className="stack card webhook-form" onSubmit={submit} aria-label="New webhook endpoint">
        <h2>New endpoint</h2>
        <label>
          URL
          <input
            type="url"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            placeholder="https://example.com/tessera-hook"
            required
          />
        </label>
        <label>
          Description
          <input value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <fieldset>
          <legend>Events</legend>
          <span className="muted">None ticked: every event type.</span>
          {EVENT_TYPE_NAMES.map((type) => (
            <label key={type}>
              <input
                type="checkbox"
                checked={events.includes(type)}
                onChange={(e) => setEvents(e.target.checked ? [...events, type] : events.filter((t) => t !== type))}
              />
              <code>{type}</code>
              <span className="muted">{EVENT_TYPES[type]}</span>
            </label>
          ))}
        </fieldset>
        <ProblemMessage error={create.error} />
        <div>
          <button type="submit" disabled={create.isPending || url.trim() === ''}>
            {create.isPending ? 'Creating…' : 'Create endpoint'}
          </button>
        </div>
      </form>
    </>
  );
}
