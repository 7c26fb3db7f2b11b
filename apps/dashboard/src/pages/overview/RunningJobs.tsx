import { ProblemMessage } from '../../components/ProblemMessage.js';
import { ProgressBar } from '../../components/ProgressBar.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { Link } from '../../router.js';
import { useAdapterNames } from '../../use-adapter-names.js';
import { useFineTunes } from '../../use-fine-tunes.js';
import { isActive } from '../fine-tunes/job-status.js';

/** The tenant's fine-tunes still queued or running, each with its progress. */
export function RunningJobs() {
  const jobs = useFineTunes();
  const adapterName = useAdapterNames();
  // A job is named by the adapter it trains (a new adapter's name is known once it is created).
  const jobName = (job: { id: string; adapter_id: string | null }) =>
    job.adapter_id ? `fine-tune of ${adapterName(job.adapter_id)}` : job.id;
  const running = jobs.data?.filter((job) => isActive(job.status));
  return (
    <section className="card" aria-labelledby="running-heading">
      <h2 id="running-heading">Running jobs</h2>
      <ProblemMessage error={jobs.error} />
      {jobs.isPending ? <p className="muted">Loading…</p> : null}
      {running?.length === 0 ? <p className="muted">No fine-tune is queued or running.</p> : null}
      {running && running.length > 0 ? (
        <ul className="running-jobs" data-testid="running-jobs">
          {running.map((job) => (
            <li key={job.id}>
              <div>
                <Link to={`/fine-tunes/${job.id}`}>{jobName(job)}</Link> <StatusBadge status={job.status} />
              </div>
              <ProgressBar value={job.progress} label={jobName(job)} />
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
