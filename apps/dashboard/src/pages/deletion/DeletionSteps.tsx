import type { Schemas } from '@tessera/sdk';
import { formatDateTime } from '../../format.js';

type StepName = Schemas['DeletionStep']['name'];

/** The worker's steps in the order it takes them (the deletion contract's names). */
const STEPS: Array<{ name: StepName; label: string }> = [
  { name: 'marked_stale', label: 'Affected adapter versions marked stale (out of routing)' },
  { name: 'audited_before', label: 'Deleted text scored under the adapters (before)' },
  { name: 'weights_erased', label: 'Stale weights, composition artifacts and training checkpoints erased' },
  { name: 'caches_evicted', label: "Stale weights evicted from every worker's memory" },
  { name: 'retrained', label: 'Adapters retrained without the documents' },
  { name: 'compositions_rebuilt', label: 'Compositions rebuilt over the retrained versions' },
  { name: 'audited_after', label: 'Deleted text scored again (after)' },
  { name: 'data_erased', label: "Documents' lines erased from their datasets" },
  { name: 'completed', label: 'Completed' },
];

type StepState = 'done' | 'running' | 'failed' | 'waiting';

/** Each step with its state: done ones have a time, the first missing one is running (or where it failed). */
export function DeletionSteps({ deletion }: { deletion: Schemas['Deletion'] }) {
  const reached = new Map(deletion.steps.map((step) => [step.name, step]));
  const firstMissing = STEPS.findIndex((step) => !reached.has(step.name));
  const stateOf = (i: number): StepState => {
    if (reached.has(STEPS[i]!.name)) return 'done';
    if (i !== firstMissing) return 'waiting';
    return deletion.status === 'failed' ? 'failed' : 'running';
  };
  return (
    <ol className="deletion-steps" aria-label="Steps">
      {STEPS.map((step, i) => {
        const state = stateOf(i);
        const record = reached.get(step.name);
        return (
          <li key={step.name} className={state} data-step={step.name} data-state={state}>
            <span className="step-mark" aria-hidden="true" />
            <span className="step-label">{step.label}</span>
            <span className="muted">
              {state === 'done' ? formatDateTime(record!.at) : state}
              {record?.detail ? ` · ${summarizeDetail(record.detail)}` : ''}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

/** A step's detail in one line: its plain values, and how many items its lists hold. */
function summarizeDetail(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .flatMap(([key, value]) => {
      if (typeof value === 'number')
        return [`${key.replaceAll('_', ' ')} ${Number.isInteger(value) ? value : value.toFixed(3)}`];
      if (typeof value === 'string' || typeof value === 'boolean')
        return [`${key.replaceAll('_', ' ')} ${String(value)}`];
      if (Array.isArray(value)) return [`${key.replaceAll('_', ' ')}: ${value.length}`];
      return [];
    })
    .join(', ');
}
