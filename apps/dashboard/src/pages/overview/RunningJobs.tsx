import { useQuery } from '@tanstack/react-query';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { ProgressBar } from '../../components/ProgressBar.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { listAll, PAGE_SIZE } from '../../list-all.js';
import { Link } from '../../router.js';
import { isActive } from '../fine-tunes/job-status.js';

/** The tenant's fine-tunes still queued or running, each with its progress. */
export function RunningJobs() {
  const api = useApi();
  const jobs = useQuery({
    queryKey: ['fine-tunes'],
    queryFn: () => listAll((after) => api.GET('/v1/fine-tunes', { params: { query: { limit: PAGE_SIZE, after } } })),
    select: (list) => list.filter((job) => isActive(job.status)),
    refetchInterval: 3000,
  });
  return (
    <section className="card" aria-labelledby="running-heading">
      <h2 id="running-heading">Running jobs</h2>
      <ProblemMessage error={jobs.error} />
      {jobs.isPending ? <p className="muted">Loading…</p> : null}
      {jobs.data?.length === 0 ? <p className="muted">No fine-tune is queued or running.</p> : null}
      {jobs.data && jobs.data.length > 0 ? (
        <ul className="running-jobs" data-testid="running-jobs">
          {jobs.data.map((job) => (
            <li key={job.id}>
              <div>
                <Link to={`/fine-tunes/${job.id}`}>{job.id}</Link> <StatusBadge status={job.status} />
              </div>
              <ProgressBar value={job.progress} label={job.id} />
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
