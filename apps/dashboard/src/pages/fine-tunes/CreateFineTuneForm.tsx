import { useMutation, useQueryClient } from '@tanstack/react-query';
import { unwrap, type Schemas } from '@tessera/sdk';
import { useState, type FormEvent } from 'react';
import { useApi } from '../../api.js';
import { AccessGroupSelect } from '../../components/AccessGroupSelect.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { navigate } from '../../router.js';
import { useBaseModels } from '../../use-base-models.js';
import { useDatasets } from '../../use-datasets.js';

/** The form's hyperparameter fields, prefilled with the contract's defaults (HYPERPARAMETER_DEFAULTS). */
const HYPERPARAMETERS = [
  { key: 'epochs', label: 'Epochs', initial: '1', step: '1' },
  { key: 'learning_rate', label: 'Learning rate', initial: '0.002', step: 'any' },
  { key: 'rank', label: 'Rank', initial: '8', step: '1' },
  { key: 'alpha', label: 'Alpha', initial: '16', step: 'any' },
  { key: 'batch_size', label: 'Batch size', initial: '8', step: '1' },
  { key: 'max_sequence_length', label: 'Max sequence length', initial: '128', step: '1' },
  { key: 'max_steps', label: 'Max steps (overrides epochs)', initial: '', step: '1' },
  { key: 'seed', label: 'Seed', initial: '0', step: '1' },
] as const satisfies ReadonlyArray<{
  key: keyof Schemas['HyperparametersRequest'];
  label: string;
  initial: string;
  step: string;
}>;

type HyperparameterKey = (typeof HYPERPARAMETERS)[number]['key'];

/** Starts a fine-tune and opens it to watch; an access group is set on the adapter right after. */
export function CreateFineTuneForm() {
  const api = useApi();
  const queryClient = useQueryClient();
  const baseModels = useBaseModels();
  const datasets = useDatasets();
  const readyModels = baseModels.data?.data.filter((model) => model.status === 'ready') ?? [];
  const readyDatasets = datasets.data?.filter((dataset) => dataset.status === 'ready') ?? [];

  const [baseModel, setBaseModel] = useState('');
  const [datasetId, setDatasetId] = useState('');
  const [adapterName, setAdapterName] = useState('');
  const [validationSplit, setValidationSplit] = useState('0.1');
  const [hyperparameters, setHyperparameters] = useState<Record<HyperparameterKey, string>>(
    () => Object.fromEntries(HYPERPARAMETERS.map((h) => [h.key, h.initial])) as Record<HyperparameterKey, string>,
  );
  const [accessGroupId, setAccessGroupId] = useState('');
  const [partitioned, setPartitioned] = useState(false);
  const [maxDocumentsPerPartition, setMaxDocumentsPerPartition] = useState('');

  // Until the user picks, the pickers show the first ready model and the newest ready dataset.
  const chosenModel = baseModel || (readyModels[0]?.id ?? '');
  const chosenDataset = datasetId || (readyDatasets.at(-1)?.id ?? '');

  const start = useMutation({
    mutationFn: async () => {
      const request: Schemas['CreateFineTuneRequest'] = {
        base_model: chosenModel,
        dataset_id: chosenDataset,
        adapter_name: adapterName.trim(),
        hyperparameters: Object.fromEntries(
          HYPERPARAMETERS.filter((h) => hyperparameters[h.key].trim() !== '').map((h) => [
            h.key,
            Number(hyperparameters[h.key]),
          ]),
        ),
        validation_split: Number(validationSplit),
        ...(partitioned ? { partition_by: 'access_group' as const } : {}),
        ...(partitioned && maxDocumentsPerPartition
          ? { max_documents_per_partition: Number(maxDocumentsPerPartition) }
          : {}),
        // A partitioned fine-tune gives each partition's adapter its documents' group instead.
        ...(!partitioned && accessGroupId ? { access_group_id: accessGroupId } : {}),
      };
      return unwrap(api.POST('/v1/fine-tunes', { body: request }));
    },
    onSuccess: async (job) => {
      await queryClient.invalidateQueries({ queryKey: ['fine-tunes'] });
      navigate(`/fine-tunes/${job.id}`);
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    start.mutate();
  }

  return (
    <form className="card stack fine-tune-form" onSubmit={submit} aria-label="New fine-tune">
      <h2>New fine-tune</h2>
      <ProblemMessage error={baseModels.error ?? datasets.error} />
      <label>
        Base model
        <select value={chosenModel} onChange={(e) => setBaseModel(e.target.value)} required>
          {readyModels.map((model) => (
            <option key={model.id} value={model.id}>
              {model.name} ({model.architecture})
            </option>
          ))}
        </select>
      </label>
      <label>
        Dataset
        <select value={chosenDataset} onChange={(e) => setDatasetId(e.target.value)} required>
          {readyDatasets.length === 0 ? <option value="">No ready dataset: upload one first</option> : null}
          {readyDatasets.map((dataset) => (
            <option key={dataset.id} value={dataset.id}>
              {dataset.name} ({dataset.document_count} documents)
            </option>
          ))}
        </select>
      </label>
      <label>
        Adapter name
        <input
          value={adapterName}
          onChange={(e) => setAdapterName(e.target.value)}
          pattern="[a-z0-9][a-z0-9._\-]*"
          title="lowercase letters, digits, dot, dash and underscore"
          required
        />
      </label>
      <fieldset>
        <legend>Hyperparameters</legend>
        {HYPERPARAMETERS.map((h) => (
          <label key={h.key}>
            {h.label}
            <input
              type="number"
              min="0"
              step={h.step}
              value={hyperparameters[h.key]}
              onChange={(e) => setHyperparameters({ ...hyperparameters, [h.key]: e.target.value })}
            />
          </label>
        ))}
        <label>
          Validation split
          <input
            type="number"
            min="0"
            max="0.5"
            step="any"
            value={validationSplit}
            onChange={(e) => setValidationSplit(e.target.value)}
          />
        </label>
      </fieldset>
      <label className="inline">
        <input type="checkbox" checked={partitioned} onChange={(e) => setPartitioned(e.target.checked)} />
        One adapter per access group (partition by access group)
      </label>
      {partitioned ? (
        <label>
          Max documents per partition
          <input
            type="number"
            min="1"
            step="1"
            value={maxDocumentsPerPartition}
            onChange={(e) => setMaxDocumentsPerPartition(e.target.value)}
          />
        </label>
      ) : (
        <AccessGroupSelect value={accessGroupId} onChange={setAccessGroupId} />
      )}
      <div>
        <button type="submit" disabled={start.isPending || !chosenModel || !chosenDataset || adapterName.trim() === ''}>
          {start.isPending ? 'Starting…' : 'Start fine-tune'}
        </button>
      </div>
      <ProblemMessage error={start.error} />
    </form>
  );
}
