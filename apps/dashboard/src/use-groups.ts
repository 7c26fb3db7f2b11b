import { useQuery } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE } from '@tessera/sdk';
import { useApi } from './api.js';

/** The tenant's access groups, for pickers and for showing a group id by its name. */
export function useGroups() {
  const api = useApi();
  return useQuery({
    queryKey: ['groups'],
    queryFn: () => listAll((after) => api.GET('/v1/groups', { params: { query: { limit: MAX_PAGE_SIZE, after } } })),
    staleTime: 60_000,
  });
}

/** A group id's name once the groups are in (the id itself until then, or when they cannot be read). */
export function useGroupName(): (groupId: string | null) => string {
  const groups = useGroups();
  return (groupId) =>
    groupId === null ? 'whole tenant' : (groups.data?.find((group) => group.id === groupId)?.name ?? groupId);
}
