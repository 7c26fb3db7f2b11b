import type { Schemas } from '@tessera/sdk';
import { useState } from 'react';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime } from '../../format.js';

interface DeliveryRowsProps {
  delivery: Schemas['WebhookDelivery'];
  onRedeliver: (deliveryId: string) => void;
  redelivering: boolean;
}

/** A delivery's row, and when expanded a row below holding every attempt. */
export function DeliveryRows({ delivery, onRedeliver, redelivering }: DeliveryRowsProps) {
  const [open, setOpen] = useState(false);
  const attemptsId = `attempts-${delivery.id}`;
  return (
    <>
      <tr>
        <td>
          <code>{delivery.event_type}</code>
          <div className="muted">{delivery.event_id}</div>
        </td>
        <td>
          <StatusBadge status={delivery.status} />
        </td>
        <td>{delivery.attempt_count}</td>
        <td className="muted">
          {delivery.status === 'pending' && delivery.next_attempt_at ? formatDateTime(delivery.next_attempt_at) : '—'}
        </td>
        <td className="muted">{formatDateTime(delivery.created_at)}</td>
        <td>
          <div className="row-actions">
            <button
              type="button"
              className="secondary"
              aria-expanded={open}
              aria-controls={attemptsId}
              onClick={() => setOpen(!open)}
            >
              {open ? 'Hide attempts' : 'Show attempts'}
            </button>
            {/* The gateway refuses while the delivery is still being attempted. */}
            <button
              type="button"
              className="secondary"
              disabled={delivery.status === 'pending' || redelivering}
              onClick={() => onRedeliver(delivery.id)}
            >
              Redeliver
            </button>
          </div>
        </td>
      </tr>
      {open ? (
        <tr id={attemptsId}>
          <td colSpan={6} className="attempts-cell">
            {delivery.attempts.length === 0 ? (
              <span className="muted">Not attempted yet.</span>
            ) : (
              <table className="attempts" aria-label={`Attempts of ${delivery.event_type} ${delivery.event_id}`}>
                <thead>
                  <tr>
                    <th>#</th>
                    <th>Status code</th>
                    <th>Duration</th>
                    <th>Error</th>
                    <th>Response</th>
                    <th>Time</th>
                  </tr>
                </thead>
                <tbody>
                  {delivery.attempts.map((attempt) => (
                    <tr key={attempt.attempt}>
                      <td>{attempt.attempt}</td>
                      <td>{attempt.status_code ?? '—'}</td>
                      <td>{attempt.latency_ms === null ? '—' : `${attempt.latency_ms} ms`}</td>
                      <td>{attempt.error ?? '—'}</td>
                      <td className="excerpt" title={attempt.response_excerpt ?? undefined}>
                        {attempt.response_excerpt ?? '—'}
                      </td>
                      <td className="muted">{formatDateTime(attempt.created_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </td>
        </tr>
      ) : null}
    </>
  );
}
