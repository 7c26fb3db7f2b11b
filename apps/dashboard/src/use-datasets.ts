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
