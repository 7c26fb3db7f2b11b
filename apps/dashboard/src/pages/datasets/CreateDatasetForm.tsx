import { useMutation, useQueryClient } from '@tanstack/react-query';
import { unwrap, type Schemas } from '@tessera/sdk';
import { useState, type FormEvent } from 'react';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { navigate } from '../../router.js';

const FORMATS: Array<{ value: Schemas['DatasetFormat']; label: string }> = [
  { value: 'text', label: 'text — {"text": …}' },
  { value: 'prompt_completion', label: 'prompt_completion — {"prompt": …, "completion": …}' },
  { value: 'chat', label: 'chat — {"messages": [{role, content}, …]}' },
];

/** Creates an empty dataset and opens it, where its content is uploaded. */
export function CreateDatasetForm() {
  const api = useApi();
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [format, setFormat] = useState<Schemas['DatasetFormat']>('text');
  const create = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/datasets', { body: { name: name.trim(), format } })),
    onSuccess: async (dataset) => {
      await queryClient.invalidateQueries({ queryKey: ['datasets'] });
      navigate(`/datasets/${dataset.id}`);
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }

  return (
    <form className="card stack" onSubmit={submit} aria-label="New dataset">
      <h2>New dataset</h2>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required />
      </label>
      <label>
        Format
        <select value={format} onChange={(e) => setFormat(e.target.value as Schemas['DatasetFormat'])}>
          {FORMATS.map((f) => (
            <option key={f.value} value={f.value}>
              {f.label}
            </option>
          ))}
        </select>
      </label>
      <div>
        <button type="submit" disabled={create.isPending || name.trim() === ''}>
          Create dataset
        </button>
      </div>
      <ProblemMessage error={create.error} />
    </form>
  );
}
