import { DatasetDetail } from './datasets/DatasetDetail.js';
import { DatasetList } from './datasets/DatasetList.js';

/** #/datasets lists and creates datasets; #/datasets/{id} uploads content and lists documents. */
export function DatasetsPage({ datasetId }: { datasetId?: string }) {
  return datasetId ? <DatasetDetail datasetId={datasetId} /> : <DatasetList />;
}
