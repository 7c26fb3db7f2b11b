import { useQuery } from '@tanstack/react-query';
import { useApi } from './api.js';
import { listAll, PAGE_SIZE } from './list-all.js';

/** An adapter id's name once the adapters are in (the id until then): jobs name only the id. */
export function useAdapterNames(): (adapterId: string) => string {
  const api = useApi();
  const adapters = useQuery({
    queryKey: ['adapters'],
    queryFn: () => listAll((after) => api.GET('/v1/adapters', { params: { query: { limit: PAGE_SIZE, after } } })),
  });
  return (adapterId) => adapters.data?.find((adapter) => adapter.id === adapterId)?.name ?? adapterId;
}
