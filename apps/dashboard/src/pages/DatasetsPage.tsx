import { Page } from '../components/Page.js';

// Placeholder: being written.
export function DatasetsPage({ datasetId }: { datasetId?: string }) {
  return <Page title="Datasets">{String(datasetId ?? '')}</Page>;
}
