import { Page } from '../../components/Page.js';
import { ProgressBar } from '../../components/ProgressBar.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime } from '../../format.js';
import { Link } from '../../router.js';
import { useAdapterNames } from '../../use-adapter-names.js';
import { useFineTunes } from '../../use-fine-tunes.js';
import { CreateFineTuneForm } from './CreateFineTuneForm.js';
import { isActive } from './job-status.js';
import './fine-tunes.css';

export function FineTuneList() {
  const adapterName = useAdapterNames();
  const jobs = useFineTunes();
  const newestFirst = jobs.data?.toSorted((a, b) => b.created_at.localeCompare(a.created_at));
  return (
    <Page title="Fine-tunes" error={jobs.error}>
      <CreateFineTuneForm />
      {jobs.isPending ? (
        <p className="muted">Loading…</p>
      ) : newestFirst?.length === 0 ? (
        <p className="muted">No fine-tunes yet.</p>
      ) : (
        <table aria-label="Fine-tunes">
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Adapter</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {newestFirst?.map((job) => (
              <tr key={job.id}>
                <td>
                  <Link to={`/fine-tunes/${job.id}`}>{job.id}</Link>
                </td>
                <td>
                  {job.adapter_id ? <Link to={`/adapters/${job.adapter_id}`}>{adapterName(job.adapter_id)}</Link> : '—'}
                </td>
                <td>
                  <StatusBadge status={job.status} />
                </td>
                <td className="progress-cell">
                  {isActive(job.status) ? (
                    <ProgressBar value={job.progress} label={job.id} />
                  ) : (
                    `${Math.round(job.progress * 100)}%`
                  )}
                </td>
                <td>{formatDateTime(job.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}
