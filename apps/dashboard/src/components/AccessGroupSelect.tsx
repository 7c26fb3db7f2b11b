import { useGroups } from '../use-groups.js';

/** Picks one of the tenant's access groups; the empty value is "Whole tenant" (no group). */
export function AccessGroupSelect({ value, onChange }: { value: string; onChange: (groupId: string) => void }) {
  const groups = useGroups();
  return (
    <label>
      Access group
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Whole tenant</option>
        {groups.data?.map((group) => (
          <option key={group.id} value={group.id}>
            {group.name}
          </option>
        ))}
      </select>
    </label>
  );
}
