import type { Schemas } from '@tessera/sdk';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime } from '../../format.js';
import { Link } from '../../router.js';
import { useCompositions } from './use-compositions.js';

export const memberSummary = (members: Schemas['Composition']['members']) =>
  members.map((m) => `${m.adapter}${m.version !== null ? `@${m.version}` : ''} × ${m.weight}`).join(', ');

/** Every composition with its method, build status and members. */
export function CompositionList() {
  const compositions = useCompositions();
  if (compositions.isPending) return <p className="muted">Loading…</p>;
  if (compositions.error) return <ProblemMessage error={compositions.error} />;
  if (compositions.data.length === 0) return <p className="muted">No compositions yet.</p>;
  return (
    <table aria-label="Compositions">
      <thead>
        <tr>
          <th>Name</th>
          <th>Method</th>
          <th>Status</th>
          <th>Members</th>
          <th>Created</th>
        </tr>
      </thead>
      <tbody>
        {compositions.data.map((composition) => (
          <tr key={composition.id}>
            <td>
              <Link to={`/compositions/${composition.id}`}>{composition.name}</Link>
              <span className="muted"> v{composition.version}</span>
            </td>
            <td>{composition.method}</td>
            <td>
              <StatusBadge status={composition.status} />
            </td>
            <td>{memberSummary(composition.members)}</td>
            <td className="muted">{formatDateTime(composition.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
