import { Page } from '../../components/Page.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatBytes, formatDateTime, formatNumber } from '../../format.js';
import { Link } from '../../router.js';
import { useDatasets } from '../../use-datasets.js';
import { CreateDatasetForm } from './CreateDatasetForm.js';

export function DatasetList() {
  const datasets = useDatasets();
  return (
    <Page title="Datasets" error={datasets.error}>
      <CreateDatasetForm />
      {datasets.isPending ? (
        <p className="muted">Loading…</p>
      ) : datasets.data?.length === 0 ? (
        <p className="muted">No datasets yet.</p>
      ) : (
        <table aria-label="Datasets">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Format</th>
              <th scope="col">Status</th>
              <th scope="col">Records</th>
              <th scope="col">Documents</th>
              <th scope="col">Size</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {datasets.data?.map((dataset) => (
              <tr key={dataset.id}>
                <td>
                  <Link to={`/datasets/${dataset.id}`}>{dataset.name}</Link>
                </td>
                <td>{dataset.format}</td>
                <td>
                  <StatusBadge status={dataset.status} />
                </td>
                <td>{formatNumber(dataset.record_count)}</td>
                <td>{formatNumber(dataset.document_count)}</td>
                <td>{formatBytes(dataset.bytes)}</td>
                <td>{formatDateTime(dataset.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}
