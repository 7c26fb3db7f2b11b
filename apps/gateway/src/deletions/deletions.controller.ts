import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  createDeletionSchema,
  deletionSchema,
  idSchema,
  listQuerySchema,
  listSchema,
  text,
  type CreateDeletion,
  type ListQuery,
} from '@tessera/contracts';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { DeletionsService } from './deletions.service.js';

const deletionId = idSchema('del');

/**
 * Deleting documents with a proof (AdapterSwap): the request marks every adapter version
 * the documents trained stale at once (out of routing), then a worker erases their weights,
 * retrains those partitions without the documents, and audits the result.
 */
@ApiTags('deletions')
@Controller('v1')
export class DeletionsController {
  constructor(private readonly deletions: DeletionsService) {}

  @Delete('datasets/:dataset_id/documents/:document_id')
  @HttpCode(202)
  @RequireScope('write')
  @Operation(
    'Delete one document: its adapters leave routing now, are retrained without it, and the deletion request records the proof',
    { status: 202, schema: deletionSchema },
  )
  deleteDocument(
    @CurrentCaller() caller: Caller,
    @Param('dataset_id', { schema: idSchema('ds') }) datasetId: string,
    @Param('document_id', { schema: text(200).min(1) }) documentId: string,
  ) {
    return this.deletions.create(
      caller,
      {
        documents: [
          documentId.startsWith('doc_')
            ? { document_id: documentId }
            : { dataset_id: datasetId, document_id: documentId },
        ],
      },
      datasetId,
    );
  }

  @Post('deletions')
  @HttpCode(202)
  @RequireScope('write')
  @Operation('Delete several documents in one request', { status: 202, schema: deletionSchema })
  create(@CurrentCaller() caller: Caller, @Body({ schema: createDeletionSchema }) body: CreateDeletion) {
    return this.deletions.create(caller, body);
  }

  @Get('deletions')
  @RequireScope('read')
  @Operation('List deletion requests', { status: 200, schema: listSchema(deletionSchema, 'DeletionList') })
  list(@CurrentCaller() caller: Caller, @Query({ schema: listQuerySchema(deletionId) }) query: ListQuery) {
    return this.deletions.list(caller, query);
  }

  @Get('deletions/:deletion_id')
  @RequireScope('read')
  @Operation('A deletion request: its steps with their times, and the proof once audited', {
    status: 200,
    schema: deletionSchema,
  })
  get(@CurrentCaller() caller: Caller, @Param('deletion_id', { schema: deletionId }) id: string) {
    return this.deletions.get(caller, id);
  }
}
