import { useQuery } from '@tanstack/react-query';
import { useApi } from '../../api.js';
import { Page } from '../../components/Page.js';
import { ProgressBar } from '../../components/ProgressBar.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime } from '../../format.js';
import { listAll, PAGE_SIZE } from '../../list-all.js';
import { Link } from '../../router.js';
import { CreateFineTuneForm } from './CreateFineTuneForm.js';
import { isActive } from './job-status.js';
import { useAdapterNames } from '../../use-adapter-names.js';
import './fine-tunes.css';

export function FineTuneList() {
  const api = useApi();
  const adapterName = useAdapterNames();
  const jobs = useQuery({
    queryKey: ['fine-tunes'],
    queryFn: () => listAll((after) => api.GET('/v1/fine-tunes', { params: { query: { limit: PAGE_SIZE, after } } })),
    // Newest first, and followed while any is still moving.
    select: (list) => [...list].sort((a, b) => b.created_at.localeCompare(a.created_at)),
    refetchInterval: (query) => (query.state.data?.some((job) => isActive(job.status)) ? 3000 : false),
  });
  return (
    <Page title="Fine-tunes" error={jobs.error}>
      <CreateFineTuneForm />
      {jobs.isPending ? (
        <p className="muted">Loading…</p>
      ) : jobs.data?.length === 0 ? (
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
            {jobs.data?.map((job) => (
              <tr key={job.id}>
                <td>
                  <Link to={`/fine-tunes/${job.id}`}>{job.id}</Link>
                </td>
                <td>{job.adapter_id ? <Link to={`/adapters/${job.adapter_id}`}>{adapterName(job.adapter_id)}</Link> : '—'}</td>
                <td>
                  <StatusBadge status={job.status} />
                </td>
                <td className="progress-cell">{isActive(job.status) ? <ProgressBar value={job.progress} label={job.id} /> : `${Math.round(job.progress * 100)}%`}</td>
                <td>{formatDateTime(job.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}
