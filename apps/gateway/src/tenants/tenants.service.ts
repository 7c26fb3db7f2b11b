import { Injectable } from '@nestjs/common';
import { newId, type Tenant } from '@tessera/contracts';
import { Database, type TenantContext } from '@tessera/db';
import { displayPrefix, hashApiKeySecret, newApiKeySecret } from '../common/api-key-secret.util.js';
import { recordAudit } from '../common/audit.util.js';
import { ProblemException } from '../common/problem.exception.js';
import { toApiKeyDto } from '../api-keys/api-key.mapper.js';
import { toPrincipalDto } from '../principals/principal.mapper.js';
import { toTenantDto } from './tenant.mapper.js';

@Injectable()
export class TenantsService {
  constructor(private readonly database: Database) {}

  /** A tenant with its first principal and admin key, in one transaction: all or nothing. */
  async create(name: string) {
    const tenantId = newId('ten');
    const secret = newApiKeySecret();
    return this.database.withTenant({ tenantId }, async (tx) => {
      const tenant = await tx.tenant.create({ data: { id: tenantId, name } });
      const principal = await tx.principal.create({
        data: { id: newId('prn'), tenantId, kind: 'service', name: 'tenant admin' },
      });
      const apiKey = await tx.apiKey.create({
        data: {
          id: newId('key'),
          tenantId,
          principalId: principal.id,
          name: 'initial admin key',
          displayPrefix: displayPrefix(secret),
          keyHash: hashApiKeySecret(secret),
          scopes: ['admin'],
        },
      });
      await recordAudit(tx, { tenantId }, 'tenant.created', { type: 'tenant', id: tenantId });
      return {
        tenant: toTenantDto(tenant),
        principal: toPrincipalDto(principal),
        api_key: { ...toApiKeyDto(apiKey), secret },
      };
    });
  }

  async get(ctx: TenantContext): Promise<Tenant> {
    const tenant = await this.database.readAsTenant(ctx, (tx) => tx.tenant.findFirst({ where: { id: ctx.tenantId } }));
    if (!tenant) throw ProblemException.notFound('tenant', ctx.tenantId);
    return toTenantDto(tenant);
  }
}
