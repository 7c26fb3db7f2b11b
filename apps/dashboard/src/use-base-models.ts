import { useQuery } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import { useApi } from './api.js';

/** The base models this tenant may train on (the platform's and its own imports). */
export function useBaseModels() {
  const api = useApi();
  return useQuery({ queryKey: ['base-models'], queryFn: () => unwrap(api.GET('/v1/base-models')), staleTime: 60_000 });
}

/** A base model id's name once the models are in (the id until then): jobs and adapters name only the id. */
export function useBaseModelName(): (baseModelId: string) => string {
  const baseModels = useBaseModels();
  return (baseModelId) => baseModels.data?.data.find((model) => model.id === baseModelId)?.name ?? baseModelId;
}
