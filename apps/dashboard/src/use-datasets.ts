import { useQuery } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE } from '@tessera/sdk';
import { useApi } from './api.js';

/** Every dataset of the tenant, whatever its status; pages filter what they show. */
export function useDatasets({ enabled = true }: { enabled?: boolean } = {}) {
  const api = useApi();
  return useQuery({
    queryKey: ['datasets'],
    queryFn: () => listAll((after) => api.GET('/v1/datasets', { params: { query: { limit: MAX_PAGE_SIZE, after } } })),
    enabled,
  });
}

/** A dataset id's name once the datasets are in (the id until then): jobs name only the id. */
export function useDatasetNames(): (datasetId: string) => string {
  const datasets = useDatasets();
  return (datasetId) => datasets.data?.find((dataset) => dataset.id === datasetId)?.name ?? datasetId;
}
