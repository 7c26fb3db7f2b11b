import type { Schemas } from '@tessera/sdk';
import { formatDateTime } from '../../format.js';

/** A status event's data in words: an error, an attempt number, or the final metrics' losses. */
function describe(event: Schemas['JobEvent']): string {
  const parts = [event.message ?? ''];
  const data = event.data ?? {};
  if (typeof data.error === 'string') parts.push(data.error);
  if (typeof data.attempt === 'number') parts.push(`attempt ${data.attempt}`);
  if (typeof data.train_loss === 'number') parts.push(`train loss ${data.train_loss.toFixed(3)}`);
  if (typeof data.validation_loss === 'number') parts.push(`validation loss ${data.validation_loss.toFixed(3)}`);
  return parts.filter(Boolean).join(' · ');
}

/** The job's status and message events; metric events are drawn in the loss chart instead. */
export function EventsLog({ events }: { events: ReadonlyArray<Schemas['JobEvent']> }) {
  const logged = events.filter((event) => event.type !== 'metric');
  const metricCount = events.length - logged.length;
  return (
    <section aria-labelledby="events-heading">
      <h2 id="events-heading">Events</h2>
      {logged.length === 0 ? (
        <p className="muted">No events yet.</p>
      ) : (
        <ol className="events-log" data-testid="events-log">
          {logged.map((event) => (
            <li key={event.id}>
              <time dateTime={event.created_at}>{formatDateTime(event.created_at)}</time>{' '}
              <span className={`event-type ${event.type}`}>{event.type}</span> {describe(event)}
            </li>
          ))}
        </ol>
      )}
      {metricCount > 0 ? <p className="muted">{metricCount} metric events (in the chart above).</p> : null}
    </section>
  );
}
