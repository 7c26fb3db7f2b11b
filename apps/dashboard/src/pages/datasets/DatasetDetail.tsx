import { useQuery } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import { useApi } from '../../api.js';
import { Facts } from '../../components/Facts.js';
import { Page } from '../../components/Page.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatBytes, formatDateTime, formatNumber } from '../../format.js';
import { Link } from '../../router.js';
import { DatasetUpload } from './DatasetUpload.js';
import { DocumentsTable } from './DocumentsTable.js';
import './datasets.css';

export function DatasetDetail({ datasetId }: { datasetId: string }) {
  const api = useApi();
  const dataset = useQuery({
    queryKey: ['datasets', datasetId],
    queryFn: () => unwrap(api.GET('/v1/datasets/{dataset_id}', { params: { path: { dataset_id: datasetId } } })),
    refetchInterval: (query) => (query.state.data?.status === 'validating' ? 2000 : false),
  });
  const data = dataset.data;
  return (
    <Page
      title={data ? `Dataset ${data.name}` : 'Dataset'}
      error={dataset.error}
      loading={dataset.isPending}
      actions={<Link to="/datasets">All datasets</Link>}
    >
      {data ? (
        <>
          <Facts
            testId="dataset-summary"
            facts={[
              { label: 'Status', value: <StatusBadge status={data.status} />, testId: 'dataset-status' },
              { label: 'Format', value: data.format },
              { label: 'Documents', value: formatNumber(data.document_count), testId: 'document-count' },
              { label: 'Records', value: formatNumber(data.record_count) },
              { label: 'Tokens', value: formatNumber(data.token_count) },
              { label: 'Size', value: formatBytes(data.bytes) },
              { label: 'Created', value: formatDateTime(data.created_at) },
            ]}
          />
          {data.status === 'uploading' ? <DatasetUpload datasetId={datasetId} /> : null}
          {data.status === 'ready' ? (
            <section aria-labelledby="documents-heading">
              <h2 id="documents-heading">Documents</h2>
              <DocumentsTable datasetId={datasetId} />
            </section>
          ) : null}
        </>
      ) : null}
    </Page>
  );
}
