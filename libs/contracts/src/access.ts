import { z } from 'zod';
import { idSchema } from './id.js';
import { shownOnceSecret } from './shown-once.js';
import { text } from './text.js';

const timestamp = z.iso.datetime();
const name = text(200).trim().min(1);

export const tenantSchema = z
  .object({ id: idSchema('ten'), name: z.string(), created_at: timestamp })
  .meta({ id: 'Tenant' });

export const principalKindSchema = z.enum(['user', 'service']).meta({ id: 'PrincipalKind' });

export const principalSchema = z
  .object({
    id: idSchema('prn'),
    kind: principalKindSchema,
    name: z.string(),
    email: z.string().nullable(),
    created_at: timestamp,
  })
  .meta({ id: 'Principal' });

export const createPrincipalSchema = z
  .strictObject({ kind: principalKindSchema, name, email: z.email().max(320).optional() })
  .meta({ id: 'CreatePrincipalRequest' });

/**
 * `admin` may do everything; `write` includes `read`; `infer` calls the inference endpoints.
 */
export const apiKeyScopeSchema = z.enum(['admin', 'write', 'read', 'infer']).meta({ id: 'ApiKeyScope' });
export type ApiKeyScope = z.infer<typeof apiKeyScopeSchema>;

export const apiKeySchema = z
  .object({
    id: idSchema('key'),
    name: z.string(),
    principal_id: idSchema('prn'),
    display_prefix: z.string().describe('First characters of the secret, to tell keys apart'),
    scopes: z.array(apiKeyScopeSchema),
    rate_limit_per_minute: z.number().int().nullable(),
    created_at: timestamp,
    last_used_at: timestamp.nullable(),
    expires_at: timestamp.nullable(),
    revoked_at: timestamp.nullable(),
  })
  .meta({ id: 'ApiKey' });

export const createdApiKeySchema = apiKeySchema
  .extend({ secret: shownOnceSecret('The key itself (tsk_…).') })
  .meta({ id: 'CreatedApiKey' });

export const createApiKeySchema = z
  .strictObject({
    name,
    principal_id: idSchema('prn').optional().describe("Owner of the key; defaults to the calling key's principal"),
    scopes: z
      .array(apiKeyScopeSchema)
      .min(1)
      .max(4)
      .refine((s) => new Set(s).size === s.length, 'must not repeat a scope'),
    rate_limit_per_minute: z.number().int().min(1).max(1_000_000).optional(),
    expires_at: timestamp.optional(),
  })
  .meta({ id: 'CreateApiKeyRequest' });

export const createTenantSchema = z.strictObject({ name }).meta({ id: 'CreateTenantRequest' });

export const createdTenantSchema = z
  .object({ tenant: tenantSchema, principal: principalSchema, api_key: createdApiKeySchema })
  .meta({ id: 'CreatedTenant' });

export const accessGroupSchema = z
  .object({
    id: idSchema('grp'),
    name: z.string(),
    description: z.string().nullable(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'AccessGroup' });

const groupName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be 1–63 lowercase letters, digits, ".", "_" or "-"');

export const createAccessGroupSchema = z
  .strictObject({ name: groupName, description: text(2000).optional() })
  .meta({ id: 'CreateAccessGroupRequest' });

export const updateAccessGroupSchema = z
  .strictObject({ name: groupName.optional(), description: text(2000).nullable().optional() })
  .meta({ id: 'UpdateAccessGroupRequest' });

export const membershipSchema = z
  .object({
    id: idSchema('mem'),
    group_id: idSchema('grp'),
    principal_id: idSchema('prn').nullable(),
    api_key_id: idSchema('key').nullable(),
    created_at: timestamp,
  })
  .meta({ id: 'GroupMembership' });

export const addMembershipSchema = z
  .strictObject({ principal_id: idSchema('prn').optional(), api_key_id: idSchema('key').optional() })
  .refine((m) => (m.principal_id === undefined) !== (m.api_key_id === undefined), {
    message: 'give exactly one of principal_id or api_key_id',
  })
  .meta({ id: 'AddGroupMemberRequest' });

export const callerSchema = z
  .object({
    tenant_id: idSchema('ten'),
    api_key_id: idSchema('key'),
    principal_id: idSchema('prn'),
    scopes: z.array(apiKeyScopeSchema),
    group_ids: z.array(idSchema('grp')).describe('Groups of the key and of its principal: what the key may use'),
  })
  .meta({ id: 'Caller' });

export type Tenant = z.infer<typeof tenantSchema>;
export type Principal = z.infer<typeof principalSchema>;
export type ApiKey = z.infer<typeof apiKeySchema>;
export type CreatedApiKey = z.infer<typeof createdApiKeySchema>;
export type AccessGroup = z.infer<typeof accessGroupSchema>;
export type Membership = z.infer<typeof membershipSchema>;
export type Caller = z.infer<typeof callerSchema>;
export type CreateApiKey = z.infer<typeof createApiKeySchema>;
export type CreatePrincipal = z.infer<typeof createPrincipalSchema>;
export type CreateAccessGroup = z.infer<typeof createAccessGroupSchema>;
export type UpdateAccessGroup = z.infer<typeof updateAccessGroupSchema>;
export type AddMembership = z.infer<typeof addMembershipSchema>;
