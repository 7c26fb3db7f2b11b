import type { z } from 'zod';
import type { createdTenantSchema } from '@tessera/contracts';

export type CreatedTenant = z.infer<typeof createdTenantSchema>;
