import type { TenantContext } from '@tessera/db';
import type { JobDeps } from './job-deps.js';

/** Erases weights no version points to (identical trainings store identical bytes under one address). */
export async function eraseUnlessUsed(deps: Pick<JobDeps, 'database' | 'blobs'>, ctx: TenantContext, sha256: string): Promise<boolean> {
  const used = await deps.database.withTenant(ctx, (tx) => tx.adapterVersion.count({ where: { weightsBlob: sha256 } }));
  return used === 0 && deps.blobs.forTenant(ctx.tenantId).delete(sha256);
}
