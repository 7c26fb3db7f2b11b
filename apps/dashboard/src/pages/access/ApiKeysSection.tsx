import { useMutation, useQueryClient } from '@tanstack/react-query';
import { unwrap, type Schemas } from '@tessera/sdk';
import { useState, type FormEvent } from 'react';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { SecretOnce } from '../../components/SecretOnce.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime } from '../../format.js';
import { useGroups } from '../../use-groups.js';
import { API_KEYS_KEY, useApiKeys, usePrincipalName, usePrincipals } from './use-access-lists.js';
import './access.css';

type Scope = Schemas['ApiKeyScope'];
const SCOPES: Record<Scope, string> = {
  admin: 'everything',
  write: 'create and change (implies read)',
  read: 'read',
  infer: 'run models',
};
const SCOPE_NAMES = Object.keys(SCOPES) as Scope[];

const keyStatus = (key: Schemas['ApiKey']) =>
  key.revoked_at ? 'revoked' : key.expires_at && new Date(key.expires_at) <= new Date() ? 'expired' : 'active';

interface Created {
  key: Schemas['CreatedApiKey'];
  /** Group memberships that could not be added; the key exists regardless. */
  membershipError: unknown;
}

/** API keys: create (secret shown once), list, revoke. Groups are memberships added right after. */
export function ApiKeysSection() {
  const api = useApi();
  const queryClient = useQueryClient();
  const keys = useApiKeys();
  const groups = useGroups();
  const principals = usePrincipals();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['read', 'infer']);
  const [principalId, setPrincipalId] = useState('');
  const [groupIds, setGroupIds] = useState<string[]>([]);
  const [rateLimit, setRateLimit] = useState('');
  const [expiresAt, setExpiresAt] = useState('');
  const [created, setCreated] = useState<Created | null>(null);

  const create = useMutation({
    mutationFn: async (): Promise<Created> => {
      const body: Schemas['CreateApiKeyRequest'] = {
        name: name.trim(),
        scopes,
        ...(principalId ? { principal_id: principalId } : {}),
        ...(rateLimit.trim() ? { rate_limit_per_minute: Number(rateLimit) } : {}),
        ...(expiresAt ? { expires_at: new Date(expiresAt).toISOString() } : {}),
      };
      const key = await unwrap(api.POST('/v1/api-keys', { body }));
      // The create request takes no groups: each is a membership of the new key.
      const results = await Promise.allSettled(
        groupIds.map((groupId) =>
          api.POST('/v1/groups/{group_id}/members', {
            params: { path: { group_id: groupId } },
            body: { api_key_id: key.id },
          }),
        ),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      return { key, membershipError: failed?.reason ?? null };
    },
    onSuccess: async (result) => {
      setCreated(result);
      setName('');
      setGroupIds([]);
      await queryClient.invalidateQueries({ queryKey: API_KEYS_KEY });
      await queryClient.invalidateQueries({ queryKey: ['groups'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) =>
      unwrap(api.POST('/v1/api-keys/{api_key_id}/revoke', { params: { path: { api_key_id: id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: API_KEYS_KEY }),
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }
  const principalName = usePrincipalName();

  return (
    <section className="access-section" aria-labelledby="keys-heading">
      <h2 id="keys-heading">API keys</h2>
      {created ? (
        <>
          <SecretOnce
            label={`Secret of key ${created.key.name}`}
            secret={created.key.secret}
            onDismiss={() => setCreated(null)}
          />
          {created.membershipError ? (
            <>
              <p className="muted">The key was created, but adding it to a group failed:</p>
              <ProblemMessage error={created.membershipError} />
            </>
          ) : null}
        </>
      ) : null}
      <form className="stack card" onSubmit={submit} aria-label="New API key">
        <label>
          Key name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="reader" required />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPE_NAMES.map((scope) => (
            <label key={scope} title={SCOPES[scope]}>
              <input
                type="checkbox"
                checked={scopes.includes(scope)}
                onChange={(e) => setScopes(e.target.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))}
              />{' '}
              {scope}
            </label>
          ))}
        </fieldset>
        <label>
          Principal
          <select value={principalId} onChange={(e) => setPrincipalId(e.target.value)}>
            <option value="">This key’s principal</option>
            {principals.data?.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name} ({p.kind})
              </option>
            ))}
          </select>
        </label>
        {groups.data?.length ? (
          <fieldset>
            <legend>Groups</legend>
            {groups.data.map((group) => (
              <label key={group.id}>
                <input
                  type="checkbox"
                  checked={groupIds.includes(group.id)}
                  onChange={(e) =>
                    setGroupIds(e.target.checked ? [...groupIds, group.id] : groupIds.filter((g) => g !== group.id))
                  }
                />{' '}
                {group.name}
              </label>
            ))}
          </fieldset>
        ) : null}
        <label>
          Rate limit per minute
          <input
            type="number"
            min={1}
            step={1}
            value={rateLimit}
            onChange={(e) => setRateLimit(e.target.value)}
            placeholder="the gateway’s default"
          />
        </label>
        <label>
          Expires at
          <input type="datetime-local" value={expiresAt} onChange={(e) => setExpiresAt(e.target.value)} />
        </label>
        <ProblemMessage error={create.error} />
        <div>
          <button type="submit" disabled={name.trim() === '' || scopes.length === 0 || create.isPending}>
            {create.isPending ? 'Creating…' : 'Create key'}
          </button>
        </div>
      </form>
      <ProblemMessage error={keys.error ?? revoke.error} />
      {keys.data?.length ? (
        <table aria-label="API keys">
          <thead>
            <tr>
              <th>Name</th>
              <th>Prefix</th>
              <th>Scopes</th>
              <th>Principal</th>
              <th>Status</th>
              <th>Last used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {keys.data.map((key) => {
              const status = keyStatus(key);
              return (
                <tr key={key.id}>
                  <td>{key.name}</td>
                  <td>
                    <code>{key.display_prefix}…</code>
                  </td>
                  <td>{key.scopes.join(', ')}</td>
                  <td>{principalName(key.principal_id)}</td>
                  <td>
                    <StatusBadge status={status} />
                  </td>
                  <td className="muted">{formatDateTime(key.last_used_at)}</td>
                  <td>
                    {status === 'revoked' ? null : (
                      <button
                        type="button"
                        className="danger"
                        aria-label={`Revoke ${key.name}`}
                        onClick={() => revoke.mutate(key.id)}
                        disabled={revoke.isPending}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
