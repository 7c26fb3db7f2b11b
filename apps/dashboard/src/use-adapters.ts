import { useQuery } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE } from '@tessera/sdk';
import { useApi } from './api.js';

/** Every adapter of the tenant, in the API's order; pages filter what they show. */
export function useAdapters() {
  const api = useApi();
  return useQuery({
    queryKey: ['adapters'],
    queryFn: () => listAll((after) => api.GET('/v1/adapters', { params: { query: { limit: MAX_PAGE_SIZE, after } } })),
  });
}
