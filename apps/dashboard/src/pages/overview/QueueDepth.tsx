import { useQuery } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { formatNumber } from '../../format.js';

/** The platform's train and compose queues (what a new job waits behind) and this tenant's jobs in them. */
export function QueueDepth() {
  const api = useApi();
  const queues = useQuery({
    queryKey: ['queues'],
    queryFn: () => unwrap(api.GET('/v1/queues')),
    refetchInterval: 5000,
  });
  return (
    <section className="card" aria-labelledby="queues-heading">
      <h2 id="queues-heading">Queue depth</h2>
      <ProblemMessage error={queues.error} />
      {queues.isPending ? <p className="muted">Loading…</p> : null}
      {queues.data ? (
        <>
          <p data-testid="tenant-jobs">
            Your jobs: <strong>{formatNumber(queues.data.jobs.queued)}</strong> queued,{' '}
            <strong>{formatNumber(queues.data.jobs.running)}</strong> running.
          </p>
          <table aria-label="Queues" data-testid="queues-table">
            <thead>
              <tr>
                <th scope="col">Queue</th>
                <th scope="col">Waiting</th>
                <th scope="col">Active</th>
                <th scope="col">Delayed</th>
              </tr>
            </thead>
            <tbody>
              {queues.data.data.map((queue) => (
                <tr key={queue.name}>
                  <td>{queue.name}</td>
                  <td>{formatNumber(queue.waiting)}</td>
                  <td>{formatNumber(queue.active)}</td>
                  <td>{formatNumber(queue.delayed)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="muted">Queues are shared by every tenant of the platform.</p>
        </>
      ) : null}
    </section>
  );
}
