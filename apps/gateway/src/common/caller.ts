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
