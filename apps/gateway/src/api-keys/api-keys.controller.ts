import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  apiKeySchema,
  callerSchema,
  createApiKeySchema,
  createdApiKeySchema,
  idSchema,
  listQuerySchema,
  listSchema,
  type Caller as CallerDto,
  type CreateApiKey,
  type ListQuery,
} from '@tessera/contracts';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { ShownOnce } from '../common/shown-once.decorator.js';
import { AnyTenantKey, RequireScope } from '../common/route-access.decorator.js';
import { ApiKeysService } from './api-keys.service.js';

@ApiTags('api-keys')
@Controller('v1')
export class ApiKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  @Get('me')
  @AnyTenantKey()
  @Operation('Who the calling key is: tenant, principal, scopes and the groups it may use', {
    status: 200,
    schema: callerSchema,
  })
  me(@CurrentCaller() caller: Caller): CallerDto {
    return {
      tenant_id: caller.tenantId,
      api_key_id: caller.apiKeyId,
      principal_id: caller.principalId,
      scopes: [...caller.scopes],
      group_ids: [...caller.groupIds],
    };
  }

  @Post('api-keys')
  @RequireScope('admin')
  @Operation('Create an API key; its secret is in this response only', { status: 201, schema: createdApiKeySchema })
  @ShownOnce('secret')
  create(@CurrentCaller() caller: Caller, @Body({ schema: createApiKeySchema }) body: CreateApiKey) {
    return this.apiKeys.create(caller, body);
  }

  @Get('api-keys')
  @RequireScope('admin')
  @Operation('List API keys (never their secrets)', { status: 200, schema: listSchema(apiKeySchema, 'ApiKeyList') })
  list(@CurrentCaller() caller: Caller, @Query({ schema: listQuerySchema(idSchema('key')) }) query: ListQuery) {
    return this.apiKeys.list(caller, query);
  }

  @Get('api-keys/:api_key_id')
  @RequireScope('admin')
  @Operation('Get an API key', { status: 200, schema: apiKeySchema })
  get(@CurrentCaller() caller: Caller, @Param('api_key_id', { schema: idSchema('key') }) id: string) {
    return this.apiKeys.get(caller, id);
  }

  @Post('api-keys/:api_key_id/revoke')
  @RequireScope('admin')
  @Operation('Revoke an API key; it fails authentication from its next request', { status: 200, schema: apiKeySchema })
  revoke(@CurrentCaller() caller: Caller, @Param('api_key_id', { schema: idSchema('key') }) id: string) {
    return this.apiKeys.revoke(caller, id);
  }
}
