import { useAdapters } from './use-adapters.js';

/** An adapter id's name once the adapters are in (the id until then): jobs name only the id. */
export function useAdapterNames(): (adapterId: string) => string {
  const adapters = useAdapters();
  return (adapterId) => adapters.data?.find((adapter) => adapter.id === adapterId)?.name ?? adapterId;
}
