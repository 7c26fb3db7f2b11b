import { useMutation, useQueryClient } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import { useState, type FormEvent } from 'react';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { formatDateTime } from '../../format.js';
import { GroupMembers } from './GroupMembers.js';
import { useGroups } from '../../use-groups.js';
import './access.css';

/** Access groups: who may use the adapters, documents and compositions that carry one. */
export function GroupsSection() {
  const api = useApi();
  const queryClient = useQueryClient();
  const groups = useGroups();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [selectedId, setSelectedId] = useState<string | null>(null);

  const create = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/v1/groups', {
          body: { name: name.trim(), ...(description.trim() ? { description: description.trim() } : {}) },
        }),
      ),
    onSuccess: async (group) => {
      setName('');
      setDescription('');
      setSelectedId(group.id);
      await queryClient.invalidateQueries({ queryKey: ['groups'] });
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }
  const selected = groups.data?.find((g) => g.id === selectedId);

  return (
    <section className="access-section" aria-labelledby="groups-heading">
      <h2 id="groups-heading">Access groups</h2>
      <form className="inline-form" onSubmit={submit} aria-label="New access group">
        <label>
          Group name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="legal" required />
        </label>
        <label>
          Group description
          <input value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <button type="submit" disabled={name.trim() === '' || create.isPending}>
          Create group
        </button>
      </form>
      <ProblemMessage error={create.error ?? groups.error} />
      {groups.data?.length === 0 ? <p className="muted">No access groups: everything is the whole tenant’s.</p> : null}
      {groups.data?.length ? (
        <table aria-label="Access groups">
          <thead>
            <tr>
              <th>Name</th>
              <th>Description</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {groups.data.map((group) => (
              <tr key={group.id} className={group.id === selectedId ? 'selected' : undefined}>
                <td>
                  {group.name} <span className="muted">{group.id}</span>
                </td>
                <td>{group.description ?? ''}</td>
                <td className="muted">{formatDateTime(group.created_at)}</td>
                <td>
                  <button
                    type="button"
                    className="secondary"
                    aria-label={`Members of ${group.name}`}
                    aria-pressed={group.id === selectedId}
                    onClick={() => setSelectedId(group.id === selectedId ? null : group.id)}
                  >
                    Members
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {selected ? <GroupMembers group={selected} /> : null}
    </section>
  );
}
