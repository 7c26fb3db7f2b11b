import { Body, Controller, Delete, Get, Param, Post, Put, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiHeader, ApiTags } from '@nestjs/swagger';
import {
  listSchema,
  shardFileSchema,
  shardPartSchema,
  shardUploadSchema,
  startShardUploadSchema,
  type StartShardUpload,
} from '@tessera/contracts';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { octetStreamBody } from '../common/octet-stream-body.js';
import { ProblemException } from '../common/problem.exception.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { baseModelId } from './base-models.controller.js';
import { ShardUploadsService } from './shard-uploads.service.js';

const partNumber = z.coerce.number().int().min(1).max(1_000_000);

/**
 * The part's sha256 from its Content-Digest header (RFC 9530: `sha-256=:<base64>:`, possibly
 * beside other algorithms), as hex; a missing or malformed one is a 400 naming the header.
 */
export function contentDigestSha256(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  const match = /(?:^|,)\s*sha-256=:([A-Za-z0-9+/]+={0,2}):\s*(?=,|$)/.exec(value);
  const digest = match ? Buffer.from(match[1]!, 'base64') : null;
  if (!digest || digest.length !== 32)
    throw new ProblemException('validation', 'Send the part with its sha256 as Content-Digest: sha-256=:<base64>:', [
      {
        field: 'header.Content-Digest',
        message: value ? 'no sha-256 digest of 32 bytes in base64' : 'missing',
      },
    ]);
  return digest.toString('hex');
}

@ApiTags('base-models')
@Controller('v1/base-models/:base_model_id/shards')
export class ShardUploadsController {
  constructor(private readonly shards: ShardUploadsService) {}

  @Get()
  @RequireScope('admin')
  @Operation("An import's shard uploads and the parts each has received (what a resumed upload still sends)", {
    status: 200,
    schema: listSchema(shardUploadSchema, 'ShardUploadList'),
  })
  list(@CurrentCaller() caller: Caller, @Param('base_model_id', { schema: baseModelId }) id: string) {
    return this.shards.list(caller, id);
  }

  @Get(':file')
  @RequireScope('admin')
  @Operation('A shard upload and the parts it has received', { status: 200, schema: shardUploadSchema })
  get(
    @CurrentCaller() caller: Caller,
    @Param('base_model_id', { schema: baseModelId }) id: string,
    @Param('file', { schema: shardFileSchema }) file: string,
  ) {
    return this.shards.get(caller, id, file);
  }

  @Put(':file')
  @RequireScope('admin')
  @Operation(
    'Import in shards: start (or resume) a shard upload with its size and sha256; the answer gives the part size and the parts already received',
    { status: 200, schema: shardUploadSchema },
  )
  start(
    @CurrentCaller() caller: Caller,
    @Param('base_model_id', { schema: baseModelId }) id: string,
    @Param('file', { schema: shardFileSchema }) file: string,
    @Body({ schema: startShardUploadSchema }) body: StartShardUpload,
  ) {
    return this.shards.start(caller, id, file, body);
  }

  @Put(':file/parts/:part_number')
  @RequireScope('admin')
  @ApiConsumes('application/octet-stream')
  @ApiHeader({
    name: 'Content-Digest',
    required: true,
    description: "The part's sha256 (RFC 9530): `sha-256=:<base64 of the 32-byte digest>:`",
  })
  @ApiBody({
    description: 'Bytes [(n − 1) · part_size, n · part_size) of the shard (the last part: the rest), streamed',
    schema: { type: 'string', format: 'binary' },
  })
  @Operation(
    'Import in shards: one part (numbered from 1), checked against its Content-Digest; sending a part again replaces it',
    { status: 200, schema: shardPartSchema },
  )
  putPart(
    @CurrentCaller() caller: Caller,
    @Param('base_model_id', { schema: baseModelId }) id: string,
    @Param('file', { schema: shardFileSchema }) file: string,
    @Param('part_number', { schema: partNumber }) number: number,
    @Req() request: FastifyRequest,
  ) {
    return this.shards.putPart(caller, id, file, number, {
      sha256: () => contentDigestSha256(request.headers['content-digest']),
      body: octetStreamBody(request, 'the part'),
    });
  }

  @Post(':file/complete')
  @RequireScope('admin')
  @Operation(
    'Import in shards: assemble a shard from its parts; it must match the sha256 it was started with (missing parts are a 409 naming them)',
    { status: 200, schema: shardUploadSchema },
  )
  complete(
    @CurrentCaller() caller: Caller,
    @Param('base_model_id', { schema: baseModelId }) id: string,
    @Param('file', { schema: shardFileSchema }) file: string,
  ) {
    return this.shards.complete(caller, id, file);
  }

  @Delete(':file')
  @RequireScope('admin')
  @Operation('Discard a shard upload (its parts or assembled file) while the import is uploading, to start it over', {
    status: 204,
  })
  delete(
    @CurrentCaller() caller: Caller,
    @Param('base_model_id', { schema: baseModelId }) id: string,
    @Param('file', { schema: shardFileSchema }) file: string,
  ) {
    return this.shards.delete(caller, id, file);
  }
}
