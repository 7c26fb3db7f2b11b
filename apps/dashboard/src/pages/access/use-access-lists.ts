import { useQuery } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE } from '@tessera/sdk';
import { useApi } from '../../api.js';

export const API_KEYS_KEY = ['api-keys'];

export function usePrincipals() {
  const api = useApi();
  return useQuery({
    queryKey: ['principals'],
    queryFn: () =>
      listAll((after) => api.GET('/v1/principals', { params: { query: { limit: MAX_PAGE_SIZE, after } } })),
  });
}

/** A principal id's name once the principals are in (the id itself until then, or when they cannot be read). */
export function usePrincipalName(): (principalId: string) => string {
  const principals = usePrincipals();
  return (principalId) => principals.data?.find((p) => p.id === principalId)?.name ?? principalId;
}

/** Admin keys only: other keys get a 403 problem, shown where the list would be. */
export function useApiKeys() {
  const api = useApi();
  return useQuery({
    queryKey: API_KEYS_KEY,
    queryFn: () => listAll((after) => api.GET('/v1/api-keys', { params: { query: { limit: MAX_PAGE_SIZE, after } } })),
  });
}
