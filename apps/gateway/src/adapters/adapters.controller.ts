import type { Readable } from 'node:stream';
import {
  Body,
  Controller,
  Delete,
  Get,
  Header,
  Inject,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiProduces, ApiTags } from '@nestjs/swagger';
import {
  adapterSchema,
  adapterVersionSchema,
  createAdapterSchema,
  idSchema,
  listQuerySchema,
  listSchema,
  peftConfigSchema,
  updateAdapterSchema,
  type CreateAdapter,
  type ListQuery,
  type PeftConfig,
  type UpdateAdapter,
} from '@tessera/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProblemException } from '../common/problem.exception.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
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
  constructor(
    private readonly adapters: AdaptersService,
    @Inject(GATEWAY_CONFIG) private readonly settings: GatewayConfig,
  ) {}

  @Post()
  @RequireScope('write')
  @Operation('Create an adapter to upload versions to (fine-tunes create theirs)', {
    status: 201,
    schema: adapterSchema,
  })
  create(@CurrentCaller() caller: Caller, @Body({ schema: createAdapterSchema }) body: CreateAdapter) {
    return this.adapters.create(caller, body);
  }

  @Patch(':adapter_id')
  @RequireScope('write')
  @Operation("Change an adapter's description or access group", { status: 200, schema: adapterSchema })
  update(
    @CurrentCaller() caller: Caller,
    @Param('adapter_id', { schema: adapterId }) id: string,
    @Body({ schema: updateAdapterSchema }) body: UpdateAdapter,
  ) {
    return this.adapters.update(caller, id, body);
  }

  @Post(':adapter_id/archive')
  @RequireScope('write')
  @Operation('Archive an adapter: kept, no longer offered for routing', { status: 200, schema: adapterSchema })
  archive(@CurrentCaller() caller: Caller, @Param('adapter_id', { schema: adapterId }) id: string) {
    return this.adapters.archive(caller, id);
  }

  @Delete(':adapter_id')
  @RequireScope('admin')
  @Operation("Delete an adapter: every version's weights are erased from the blob store", { status: 204 })
  delete(@CurrentCaller() caller: Caller, @Param('adapter_id', { schema: adapterId }) id: string) {
    return this.adapters.delete(caller, id);
  }

  @Put(':adapter_id/versions/:version/adapter_config.json')
  @RequireScope('write')
  @Operation("Upload in the PEFT format, step 1: the version's adapter_config.json (opens the next version)", {
    status: 200,
    schema: adapterVersionSchema,
  })
  putConfig(
    @CurrentCaller() caller: Caller,
    @Param('adapter_id', { schema: adapterId }) id: string,
    @Param('version', { schema: versionNumber }) version: number,
    @Body({ schema: peftConfigSchema }) body: PeftConfig,
  ) {
    return this.adapters.putConfig(caller, id, version, body);
  }

  @Put(':adapter_id/versions/:version/adapter_model.safetensors')
  @RequireScope('write')
  @ApiConsumes('application/octet-stream')
  @ApiBody({ description: "PEFT's adapter_model.safetensors, streamed", schema: { type: 'string', format: 'binary' } })
  @Operation(
    'Upload in the PEFT format, step 2: the weights, checked against the base model (a mismatch is a 400 listing every problem)',
    { status: 200, schema: adapterVersionSchema },
  )
  putWeights(
    @CurrentCaller() caller: Caller,
    @Param('adapter_id', { schema: adapterId }) id: string,
    @Param('version', { schema: versionNumber }) version: number,
    @Req() request: FastifyRequest,
  ) {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    // Checked once the version is found, so a stranger's adapter is a 404 whatever is sent.
    const body = () => {
      if (type !== 'application/octet-stream')
        throw new ProblemException(
          'unsupported-media-type',
          `Send the weights as application/octet-stream, got ${type || 'no content type'}`,
        );
      return request.body as Readable;
    };
    return this.adapters.putWeights(caller, id, version, body, this.settings.ADAPTER_MAX_BYTES);
  }

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
  @Operation("List an adapter's versions", {
    status: 200,
    schema: listSchema(adapterVersionSchema, 'AdapterVersionList'),
  })
  versions(@CurrentCaller() caller: Caller, @Param('adapter_id', { schema: adapterId }) id: string) {
    return this.adapters.versions(caller, id);
  }

  @Get(':adapter_id/versions/:version/adapter_model.safetensors')
  @RequireScope('read')
  @ApiProduces('application/octet-stream')
  @Header('content-type', 'application/octet-stream')
  @Operation("Download a ready version's weights (PEFT's adapter_model.safetensors)", { status: 200 })
  async weights(
    @CurrentCaller() caller: Caller,
    @Param('adapter_id', { schema: adapterId }) id: string,
    @Param('version', { schema: versionNumber }) version: number,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const bytes = (await this.adapters.file(caller, id, version, 'adapter_model.safetensors')) as Uint8Array;
    void reply.header('content-disposition', 'attachment; filename="adapter_model.safetensors"');
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  @Get(':adapter_id/versions/:version/adapter_config.json')
  @RequireScope('read')
  @Operation("Download a ready version's PEFT adapter_config.json", { status: 200 })
  config(
    @CurrentCaller() caller: Caller,
    @Param('adapter_id', { schema: adapterId }) id: string,
    @Param('version', { schema: versionNumber }) version: number,
  ) {
    return this.adapters.file(caller, id, version, 'adapter_config.json');
  }
}
