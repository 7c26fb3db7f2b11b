import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { createdTenantSchema, createTenantSchema, idSchema, tenantSchema, type Tenant } from '@tessera/contracts';
import { z } from 'zod';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { PlatformAdmin, RequireScope } from '../common/route-access.decorator.js';
import { ShownOnce } from '../common/shown-once.decorator.js';
import { TenantsService } from './tenants.service.js';

@ApiTags('tenants')
@Controller('v1')
export class TenantsController {
  constructor(private readonly tenants: TenantsService) {}

  @Post('tenants')
  @PlatformAdmin()
  @Operation('Create a tenant with its first admin key (platform admin only)', {
    status: 201,
    schema: createdTenantSchema,
  })
  @ShownOnce('api_key.secret')
  create(@Body({ schema: createTenantSchema }) body: z.infer<typeof createTenantSchema>) {
    return this.tenants.create(body.name);
  }

  @Get('tenants/:tenant_id')
  @PlatformAdmin()
  @Operation('Get any tenant (platform admin only)', { status: 200, schema: tenantSchema })
  getAny(@Param('tenant_id', { schema: idSchema('ten') }) tenantId: string): Promise<Tenant> {
    return this.tenants.get({ tenantId });
  }

  @Get('tenant')
  @RequireScope('read')
  @Operation("Get the calling key's tenant", { status: 200, schema: tenantSchema })
  getOwn(@CurrentCaller() caller: Caller): Promise<Tenant> {
    return this.tenants.get(caller);
  }
}
