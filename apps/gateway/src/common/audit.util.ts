import { newId } from '@tessera/contracts';
import type { TenantTransaction } from '@tessera/db';
import type { Caller } from './caller.js';

/** Records who changed what, in the same transaction as the change. */
export async function recordAudit(
  tx: TenantTransaction,
  caller: Pick<Caller, 'tenantId'> & { apiKeyId?: string | null },
  action: string,
  resource: { type: string; id: string },
  data?: Record<string, unknown>,
): Promise<void> {
  await tx.auditLog.create({
    data: {
      id: newId('aud'),
      tenantId: caller.tenantId,
      actorKeyId: caller.apiKeyId ?? null,
      action,
      resourceType: resource.type,
      resourceId: resource.id,
      ...(data ? { data: data as object } : {}),
    },
  });
}
