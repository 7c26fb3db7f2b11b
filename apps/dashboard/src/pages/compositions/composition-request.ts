import type { Schemas } from '@tessera/sdk';

type CreateComposition = Schemas['CreateCompositionRequest'];
export type CreatableMethod = CreateComposition['method'];

/** The methods a caller can create (`centroid` knowledge bases come from partitioned fine-tunes). */
export const METHODS: Array<{ method: CreatableMethod; label: string }> = [
  { method: 'linear', label: 'linear (PEFT)' },
  { method: 'cat', label: 'cat — exact Σ wᵢ·ΔWᵢ' },
  { method: 'ties', label: 'ties (PEFT)' },
  { method: 'dare_linear', label: 'dare_linear (PEFT)' },
  { method: 'dare_ties', label: 'dare_ties (PEFT)' },
  { method: 'learned_gate', label: 'learned_gate — a per-token gate trained over the members' },
];

// Which params each method reads (the contract's descriptions); others are not sent.
export const USES_DENSITY: readonly CreatableMethod[] = ['ties', 'dare_linear', 'dare_ties'];
export const USES_SIGN_METHOD: readonly CreatableMethod[] = ['ties', 'dare_ties'];
export const USES_SEED: readonly CreatableMethod[] = ['dare_linear', 'dare_ties', 'learned_gate'];

export interface CompositionDraft {
  name: string;
  method: CreatableMethod;
  /** Chosen members in the order they were picked, each with its weight as typed. */
  members: Array<{ adapter: string; weight: string }>;
  density: string;
  majoritySignMethod: '' | 'total' | 'frequency';
  seed: string;
  datasetId: string;
  maxSteps: string;
  learningRate: string;
  accessGroupId: string;
}

export const EMPTY_DRAFT: CompositionDraft = {
  name: '',
  method: 'linear',
  members: [],
  density: '',
  majoritySignMethod: '',
  seed: '',
  datasetId: '',
  maxSteps: '',
  learningRate: '',
  accessGroupId: '',
};

const numberIf = (typed: string) => (typed.trim() === '' ? undefined : Number(typed));

/** The request body for a draft: blank fields are left to the gateway's defaults. */
export function compositionRequest(draft: CompositionDraft): CreateComposition {
  const learned = draft.method === 'learned_gate';
  const params: NonNullable<CreateComposition['params']> = {};
  const density = numberIf(draft.density);
  if (USES_DENSITY.includes(draft.method) && density !== undefined) params.density = density;
  if (USES_SIGN_METHOD.includes(draft.method) && draft.majoritySignMethod)
    params.majority_sign_method = draft.majoritySignMethod;
  const seed = numberIf(draft.seed);
  if (USES_SEED.includes(draft.method) && seed !== undefined) params.seed = seed;
  if (learned) {
    if (draft.datasetId) params.dataset_id = draft.datasetId;
    const maxSteps = numberIf(draft.maxSteps);
    if (maxSteps !== undefined) params.max_steps = maxSteps;
    const learningRate = numberIf(draft.learningRate);
    if (learningRate !== undefined) params.learning_rate = learningRate;
  }
  return {
    name: draft.name.trim(),
    method: draft.method,
    // A learned gate learns its own weights: the members' weights mean nothing to it.
    members: draft.members.map(({ adapter, weight }) => {
      const typed = numberIf(weight);
      return learned || typed === undefined ? { adapter } : { adapter, weight: typed };
    }),
    ...(Object.keys(params).length > 0 ? { params } : {}),
    ...(draft.accessGroupId ? { access_group_id: draft.accessGroupId } : {}),
  };
}
