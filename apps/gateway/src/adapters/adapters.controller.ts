import { Controller, Get, Header, Param, Query, Res } from '@nestjs/common';
import { ApiProduces, ApiTags } from '@nestjs/swagger';
import { adapterSchema, adapterVersionSchema, idSchema, listQuerySchema, listSchema, type ListQuery } from '@tessera/contracts';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { AdaptersService } from './adapters.service.js';

const adapterId = idSchema('ad');
const versionNumber = z.coerce.number().int().min(1).max(1_000_000);

@ApiTags('adapters')
@Controller('v1/adapters')
export class AdaptersController {
  constructor(private readonly adapters: AdaptersService) {}

  @Get()
  @RequireScope('read')
  @Operation('List adapters', { status: 200, schema: listSchema(adapterSchema, 'AdapterList') })
  list(@CurrentCaller() caller: Caller, @Query({ schema: listQuerySchema(adapterId) }) query: ListQuery) {
    return this.adapters.list(caller, query);
  }

  @Get(':adapter_id')
  @RequireScope('read')
  @Operation('Get an adapter', { status: 200, schema: adapterSchema })
  get(@CurrentCaller() caller: Caller, @Param('adapter_id', { schema: adapterId }) id: string) {
    return this.adapters.get(caller, id);
  }

  @Get(':adapter_id/versions')
  @RequireScope('read')
  @Operation("List an adapter's versions", { status: 200, schema: listSchema(adapterVersionSchema, 'AdapterVersionList') })
  versions(@CurrentCaller() caller: Caller, @Param('adapter_id', { schema: adapterId }) id: string) {
    return this.adapters.versions(caller, id);
  }

  @Get(':adapter_id/versions/:version/adapter_model.safetensors')
  @RequireScope('read')
  @ApiProduces('application/octet-stream')
  @Header('content-type', 'application/octet-stream')
  @Operation("Download a ready version's weights (PEFT's adapter_model.safetensors)", { status: 200 })
  async weights(@CurrentCaller() caller: Caller, @Param('adapter_id', { schema: adapterId }) id: string, @Param('version', { schema: versionNumber }) version: number, @Res({ passthrough: true }) reply: FastifyReply) {
    const bytes = (await this.adapters.file(caller, id, version, 'adapter_model.safetensors')) as Uint8Array;
    void reply.header('content-disposition', 'attachment; filename="adapter_model.safetensors"');
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  @Get(':adapter_id/versions/:version/adapter_config.json')
  @RequireScope('read')
  @Operation("Download a ready version's PEFT adapter_config.json", { status: 200 })
  config(@CurrentCaller() caller: Caller, @Param('adapter_id', { schema: adapterId }) id: string, @Param('version', { schema: versionNumber }) version: number) {
    return this.adapters.file(caller, id, version, 'adapter_config.json');
  }
}
