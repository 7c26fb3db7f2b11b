import { useQuery } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE, type Schemas } from '@tessera/sdk';
import { useApi } from '../../api.js';

export const COMPOSITIONS_KEY = ['compositions'];

/** Whether a compose job is still making the composition (worth polling for). */
export const isBuilding = (status: Schemas['Composition']['status'] | undefined) =>
  status === 'queued' || status === 'building';

/** Every composition the key may use; polled while any is still being built. */
export function useCompositions({ enabled = true }: { enabled?: boolean } = {}) {
  const api = useApi();
  return useQuery({
    queryKey: COMPOSITIONS_KEY,
    queryFn: () =>
      listAll((after) => api.GET('/v1/compositions', { params: { query: { limit: MAX_PAGE_SIZE, after } } })),
    enabled,
    refetchInterval: (query) => (query.state.data?.some((c) => isBuilding(c.status)) ? 2000 : false),
  });
}
