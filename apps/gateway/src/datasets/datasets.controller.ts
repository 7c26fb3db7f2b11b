import type { Readable } from 'node:stream';
import { Body, Controller, Get, Param, Post, Put, Query, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiTags } from '@nestjs/swagger';
import {
  createDatasetSchema,
  datasetSchema,
  documentSchema,
  idSchema,
  listQuerySchema,
  listSchema,
  type CreateDataset,
  type ListQuery,
} from '@tessera/contracts';
import type { FastifyRequest } from 'fastify';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { ProblemException } from '../common/problem.exception.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { DatasetsService } from './datasets.service.js';

const datasetId = idSchema('ds');

/** Content types an upload may come as; the app registers them as raw streams (app.factory.ts). */
export const JSONL_CONTENT_TYPES = ['application/x-ndjson', 'application/jsonl'];

@ApiTags('datasets')
@Controller('v1/datasets')
export class DatasetsController {
  constructor(private readonly datasets: DatasetsService) {}

  @Post()
  @RequireScope('write')
  @Operation('Create a dataset (then upload its JSONL content)', { status: 201, schema: datasetSchema })
  create(@CurrentCaller() caller: Caller, @Body({ schema: createDatasetSchema }) body: CreateDataset) {
    return this.datasets.create(caller, body);
  }

  @Get()
  @RequireScope('read')
  @Operation('List datasets', { status: 200, schema: listSchema(datasetSchema, 'DatasetList') })
  list(@CurrentCaller() caller: Caller, @Query({ schema: listQuerySchema(datasetId) }) query: ListQuery) {
    return this.datasets.list(caller, query);
  }

  @Get(':dataset_id')
  @RequireScope('read')
  @Operation('Get a dataset with its stats', { status: 200, schema: datasetSchema })
  get(@CurrentCaller() caller: Caller, @Param('dataset_id', { schema: datasetId }) id: string) {
    return this.datasets.get(caller, id);
  }

  @Put(':dataset_id/content')
  @RequireScope('write')
  @ApiConsumes(...JSONL_CONTENT_TYPES)
  @ApiBody({
    description:
      "JSONL, one record per line, streamed (records of the dataset's format; optional document_id and access_group)",
    schema: { type: 'string', format: 'binary' },
  })
  @Operation("Upload the dataset's content; bad lines fail the upload with a 400 naming them, and nothing is stored", {
    status: 200,
    schema: datasetSchema,
  })
  upload(
    @CurrentCaller() caller: Caller,
    @Param('dataset_id', { schema: datasetId }) id: string,
    @Req() request: FastifyRequest,
  ) {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    // Checked after the dataset is found, so a stranger's dataset id is a 404 whatever is sent.
    const body = () => {
      if (!JSONL_CONTENT_TYPES.includes(type)) {
        throw new ProblemException(
          'unsupported-media-type',
          `Send the dataset as ${JSONL_CONTENT_TYPES.join(' or ')}, got ${type || 'no content type'}`,
        );
      }
      return request.body as Readable;
    };
    return this.datasets.upload(caller, id, body);
  }

  @Get(':dataset_id/documents')
  @RequireScope('read')
  @Operation("List the dataset's documents", { status: 200, schema: listSchema(documentSchema, 'DocumentList') })
  listDocuments(
    @CurrentCaller() caller: Caller,
    @Param('dataset_id', { schema: datasetId }) id: string,
    @Query({ schema: listQuerySchema(idSchema('doc')) }) query: ListQuery,
  ) {
    return this.datasets.listDocuments(caller, id, query);
  }
}
