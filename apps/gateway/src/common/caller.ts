import type { ApiKeyScope } from '@tessera/contracts';
import type { TenantContext } from '@tessera/db';

/** The authenticated tenant API key a request runs as. */
export interface Caller extends TenantContext {
  readonly apiKeyId: string;
  readonly principalId: string;
  readonly scopes: readonly ApiKeyScope[];
  readonly groupIds: readonly string[];
}

/** `admin` implies every scope and `write` implies `read`. */
export function hasScope(granted: readonly ApiKeyScope[], needed: ApiKeyScope): boolean {
  if (granted.includes('admin') || granted.includes(needed)) return true;
  return needed === 'read' && granted.includes('write');
}

/** Where rows with an access group (adapters, compositions) are visible: no group, or one of the caller's groups. */
export function inCallerGroups(caller: Caller) {
  return { tenantId: caller.tenantId, OR: [{ accessGroupId: null }, { accessGroupId: { in: [...caller.groupIds] } }] };
}

/** The same rule for a row already loaded. */
export function inCallerGroup(caller: Caller, accessGroupId: string | null): boolean {
  return accessGroupId === null || caller.groupIds.includes(accessGroupId);
}
