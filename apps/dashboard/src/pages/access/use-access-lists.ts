import { useQuery } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE } from '@tessera/sdk';
import { useApi } from '../../api.js';

export const API_KEYS_KEY = ['api-keys'];

export function usePrincipals() {
  const api = useApi();
  return useQuery({ queryKey: ['principals'], queryFn: () => listAll((after) => api.GET('/v1/principals', { params: { query: { limit: MAX_PAGE_SIZE, after } } })) });
}

/** Admin keys only: other keys get a 403 problem, shown where the list would be. */
export function useApiKeys() {
  const api = useApi();
  return useQuery({ queryKey: API_KEYS_KEY, queryFn: () => listAll((after) => api.GET('/v1/api-keys', { params: { query: { limit: MAX_PAGE_SIZE, after } } })) });
}
