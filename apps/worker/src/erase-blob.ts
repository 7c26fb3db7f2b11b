import type { TenantContext } from '@tessera/db';
import { releaseBlob } from '@tessera/domain';
import type { JobDeps } from './job-deps.js';

/** Erases bytes nothing points to any more (see releaseBlob): weights, artifacts, checkpoints, old dataset content. */
export function eraseBlob(
  deps: Pick<JobDeps, 'database' | 'blobs'>,
  ctx: TenantContext,
  sha256: string,
): Promise<boolean> {
  return releaseBlob(deps.database, deps.blobs.forTenant(ctx.tenantId), ctx, sha256);
}
