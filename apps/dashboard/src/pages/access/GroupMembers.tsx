import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { listAll, MAX_PAGE_SIZE, unwrap, type Schemas } from '@tessera/sdk';
import { useState, type FormEvent } from 'react';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { formatDateTime } from '../../format.js';
import { useApiKeys, usePrincipalName, usePrincipals } from './use-access-lists.js';

/** A member is a principal (all its keys) or one API key; the select encodes which as `kind:id`. */
const memberBody = (choice: string): Schemas['AddGroupMemberRequest'] => {
  const [kind, id] = choice.split(':') as ['principal' | 'api_key', string];
  return kind === 'principal' ? { principal_id: id } : { api_key_id: id };
};

/** The members of one group: add a principal or a key, remove one. */
export function GroupMembers({ group }: { group: Schemas['AccessGroup'] }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const membersKey = ['groups', group.id, 'members'];
  const path = { params: { path: { group_id: group.id } } };
  const members = useQuery({
    queryKey: membersKey,
    queryFn: () =>
      listAll((after) =>
        api.GET('/v1/groups/{group_id}/members', {
          params: { path: { group_id: group.id }, query: { limit: MAX_PAGE_SIZE, after } },
        }),
      ),
  });
  const principals = usePrincipals();
  const keys = useApiKeys();
  const [choice, setChoice] = useState('');

  const add = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/groups/{group_id}/members', { ...path, body: memberBody(choice) })),
    onSuccess: () => {
      setChoice('');
      return queryClient.invalidateQueries({ queryKey: membersKey });
    },
  });
  const remove = useMutation({
    mutationFn: (membershipId: string) =>
      api.DELETE('/v1/groups/{group_id}/members/{membership_id}', {
        params: { path: { group_id: group.id, membership_id: membershipId } },
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: membersKey }),
  });

  const principalName = usePrincipalName();
  const keyName = (id: string) => keys.data?.find((k) => k.id === id)?.name ?? id;
  function submit(event: FormEvent) {
    event.preventDefault();
    add.mutate();
  }

  return (
    <section className="group-members card" aria-label={`Members of ${group.name}`}>
      <h3>Members of {group.name}</h3>
      <ProblemMessage error={members.error ?? remove.error} />
      {members.data?.length === 0 ? (
        <p className="muted">No members: only admin keys see what this group holds.</p>
      ) : null}
      {members.data?.length ? (
        <table>
          <thead>
            <tr>
              <th>Member</th>
              <th>Kind</th>
              <th>Added</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {members.data.map((membership) => (
              <tr key={membership.id}>
                <td>
                  {membership.principal_id
                    ? principalName(membership.principal_id)
                    : keyName(membership.api_key_id ?? '')}
                </td>
                <td>{membership.principal_id ? 'principal' : 'API key'}</td>
                <td className="muted">{formatDateTime(membership.created_at)}</td>
                <td>
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => remove.mutate(membership.id)}
                    disabled={remove.isPending}
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <form className="inline-form" onSubmit={submit} aria-label={`Add a member to ${group.name}`}>
        <label>
          Add member
          <select value={choice} onChange={(e) => setChoice(e.target.value)} required>
            <option value="">Choose a principal or a key…</option>
            {principals.data?.length ? (
              <optgroup label="Principals (every key they hold)">
                {principals.data.map((p) => (
                  <option key={p.id} value={`principal:${p.id}`}>
                    {p.name} ({p.kind})
                  </option>
                ))}
              </optgroup>
            ) : null}
            {keys.data?.length ? (
              <optgroup label="Single API keys">
                {keys.data
                  .filter((k) => !k.revoked_at)
                  .map((k) => (
                    <option key={k.id} value={`api_key:${k.id}`}>
                      {k.name} ({k.display_prefix}…)
                    </option>
                  ))}
              </optgroup>
            ) : null}
          </select>
        </label>
        <button type="submit" disabled={choice === '' || add.isPending}>
          Add
        </button>
      </form>
      <ProblemMessage error={add.error} />
    </section>
  );
}
