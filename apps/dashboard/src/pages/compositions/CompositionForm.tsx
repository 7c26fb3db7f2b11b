import { useMutation, useQueryClient } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import { useState, type FormEvent } from 'react';
import { useApi } from '../../api.js';
import { AccessGroupSelect } from '../../components/AccessGroupSelect.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { navigate } from '../../router.js';
import { useAdapters } from '../../use-adapters.js';
import { useDatasets } from '../../use-datasets.js';
import {
  compositionRequest,
  EMPTY_DRAFT,
  METHODS,
  USES_DENSITY,
  USES_SEED,
  USES_SIGN_METHOD,
  type CompositionDraft,
} from './composition-request.js';
import { COMPOSITIONS_KEY } from './use-compositions.js';
import './compositions.css';

/** Creates a composition from the ready adapters; on success opens it to watch it build. */
export function CompositionForm() {
  const api = useApi();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<CompositionDraft>(EMPTY_DRAFT);
  const change = (part: Partial<CompositionDraft>) => setDraft((previous) => ({ ...previous, ...part }));

  const adapters = useAdapters();
  const composable = adapters.data?.filter((a) => a.status === 'active' && a.latest_ready_version !== null);
  const learned = draft.method === 'learned_gate';
  // Only a learned gate trains on a dataset.
  const datasets = useDatasets({ enabled: learned });
  const readyDatasets = datasets.data?.filter((d) => d.status === 'ready');

  const create = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/compositions', { body: compositionRequest(draft) })),
    onSuccess: async (composition) => {
      await queryClient.invalidateQueries({ queryKey: COMPOSITIONS_KEY });
      navigate(`/compositions/${composition.id}`);
    },
  });

  const chosen = (name: string) => draft.members.find((m) => m.adapter === name);
  const toggle = (name: string, on: boolean) =>
    change({
      members: on
        ? [...draft.members, { adapter: name, weight: '1' }]
        : draft.members.filter((m) => m.adapter !== name),
    });
  const setWeight = (name: string, weight: string) =>
    change({ members: draft.members.map((m) => (m.adapter === name ? { ...m, weight } : m)) });
  const enoughMembers = draft.members.length >= (learned ? 2 : 1);

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }

  return (
    <form className="stack card composition-form" onSubmit={submit} aria-label="New composition">
      <h2>New composition</h2>
      <label>
        Name
        <input
          value={draft.name}
          onChange={(e) => change({ name: e.target.value })}
          pattern="[a-z0-9][a-z0-9._\-]*"
          placeholder="kitchen-sink"
          title="lowercase letters, digits, dot, dash and underscore"
          required
        />
      </label>
      <span className="muted">An existing composition’s name makes its next version.</span>
      <label>
        Method
        <select value={draft.method} onChange={(e) => change({ method: e.target.value as CompositionDraft['method'] })}>
          {METHODS.map(({ method, label }) => (
            <option key={method} value={method}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <fieldset>
        <legend>Members</legend>
        <ProblemMessage error={adapters.error} />
        {composable?.length === 0 ? <span className="muted">No adapter has a ready version yet.</span> : null}
        {composable?.map((adapter) => {
          const member = chosen(adapter.name);
          return (
            <div className="member" key={adapter.id}>
              <label>
                <input
                  type="checkbox"
                  checked={member !== undefined}
                  onChange={(e) => toggle(adapter.name, e.target.checked)}
                />{' '}
                {adapter.name}
                <span className="muted">v{adapter.latest_ready_version}</span>
              </label>
              {member && !learned ? (
                <label>
                  <span className="muted">Weight of {adapter.name}</span>
                  <input
                    type="number"
                    step="any"
                    min={-10}
                    max={10}
                    value={member.weight}
                    onChange={(e) => setWeight(adapter.name, e.target.value)}
                  />
                </label>
              ) : null}
            </div>
          );
        })}
        {learned ? (
          <span className="muted">
            A learned gate routes among at least 2 members and learns their weights per token.
          </span>
        ) : null}
      </fieldset>
      {USES_DENSITY.includes(draft.method) ? (
        <label>
          Density
          <input
            type="number"
            min={0.01}
            max={1}
            step="any"
            placeholder="0.5: the share of entries kept"
            value={draft.density}
            onChange={(e) => change({ density: e.target.value })}
          />
        </label>
      ) : null}
      {USES_SIGN_METHOD.includes(draft.method) ? (
        <label>
          Majority sign method
          <select
            value={draft.majoritySignMethod}
            onChange={(e) => change({ majoritySignMethod: e.target.value as CompositionDraft['majoritySignMethod'] })}
          >
            <option value="">default (total)</option>
            <option value="total">total</option>
            <option value="frequency">frequency</option>
          </select>
        </label>
      ) : null}
      {learned ? (
        <>
          <label>
            Training dataset
            <select value={draft.datasetId} onChange={(e) => change({ datasetId: e.target.value })} required>
              <option value="">Choose a ready dataset…</option>
              {readyDatasets?.map((dataset) => (
                <option key={dataset.id} value={dataset.id}>
                  {dataset.name} ({dataset.record_count} records)
                </option>
              ))}
            </select>
          </label>
          <div className="row">
            <label>
              Max steps
              <input
                type="number"
                min={1}
                max={2000}
                placeholder="60"
                value={draft.maxSteps}
                onChange={(e) => change({ maxSteps: e.target.value })}
              />
            </label>
            <label>
              Learning rate
              <input
                type="number"
                min={0}
                max={1}
                step="any"
                placeholder="0.1"
                value={draft.learningRate}
                onChange={(e) => change({ learningRate: e.target.value })}
              />
            </label>
          </div>
        </>
      ) : null}
      {USES_SEED.includes(draft.method) ? (
        <label>
          Seed
          <input type="number" min={0} step={1} value={draft.seed} onChange={(e) => change({ seed: e.target.value })} />
        </label>
      ) : null}
      <AccessGroupSelect value={draft.accessGroupId} onChange={(accessGroupId) => change({ accessGroupId })} />
      <ProblemMessage error={create.error} />
      <div>
        <button type="submit" disabled={create.isPending || !enoughMembers || draft.name.trim() === ''}>
          {create.isPending ? 'Creating…' : 'Create composition'}
        </button>
      </div>
    </form>
  );
}
