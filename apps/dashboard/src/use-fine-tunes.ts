import { useQuery } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE } from '@tessera/sdk';
import { useApi } from './api.js';
import { isActive } from './pages/fine-tunes/job-status.js';

const POLL_MS = 3000;

/** Every fine-tune of the tenant; polled while any is queued or running, and not after. */
export function useFineTunes() {
  const api = useApi();
  return useQuery({
    queryKey: ['fine-tunes'],
    queryFn: () =>
      listAll((after) => api.GET('/v1/fine-tunes', { params: { query: { limit: MAX_PAGE_SIZE, after } } })),
    refetchInterval: (query) => (query.state.data?.some((job) => isActive(job.status)) ? POLL_MS : false),
  });
}
