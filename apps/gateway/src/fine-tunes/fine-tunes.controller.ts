import { Body, Controller, Get, Headers, Param, Post, Query, Res } from '@nestjs/common';
import { ApiProduces, ApiTags } from '@nestjs/swagger';
import {
  checkpointSchema,
  createFineTuneSchema,
  fineTuneSchema,
  idSchema,
  jobEventSchema,
  listQuerySchema,
  listSchema,
  type CreateFineTune,
  type JobEventDto,
  type ListQuery,
} from '@tessera/contracts';
import { isDatabaseOutage } from '@tessera/db';
import type { FastifyReply } from 'fastify';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { eventStream } from '../common/event-stream.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { toProblem } from '../common/to-problem.util.js';
import { FineTunesService } from './fine-tunes.service.js';

const jobId = idSchema('job');
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const SSE_POLL_MS = 300;

@ApiTags('fine-tunes')
@Controller('v1/fine-tunes')
export class FineTunesController {
  constructor(private readonly fineTunes: FineTunesService) {}

  @Post()
  @RequireScope('write')
  @Operation('Start a fine-tune: trains a new version of the named adapter on a dataset', {
    status: 201,
    schema: fineTuneSchema,
  })
  create(@CurrentCaller() caller: Caller, @Body({ schema: createFineTuneSchema }) body: CreateFineTune) {
    return this.fineTunes.create(caller, body);
  }

  @Get()
  @RequireScope('read')
  @Operation('List fine-tunes', { status: 200, schema: listSchema(fineTuneSchema, 'FineTuneList') })
  list(@CurrentCaller() caller: Caller, @Query({ schema: listQuerySchema(jobId) }) query: ListQuery) {
    return this.fineTunes.list(caller, query);
  }

  @Get(':job_id')
  @RequireScope('read')
  @Operation('Get a fine-tune: status, progress, metrics', { status: 200, schema: fineTuneSchema })
  get(@CurrentCaller() caller: Caller, @Param('job_id', { schema: jobId }) id: string) {
    return this.fineTunes.get(caller, id);
  }

  @Post(':job_id/cancel')
  @RequireScope('write')
  @Operation('Cancel a fine-tune (a running one stops within a step, keeping a checkpoint)', {
    status: 200,
    schema: fineTuneSchema,
  })
  cancel(@CurrentCaller() caller: Caller, @Param('job_id', { schema: jobId }) id: string) {
    return this.fineTunes.cancel(caller, id);
  }

  @Get(':job_id/events')
  @RequireScope('read')
  @ApiProduces('application/json', 'text/event-stream')
  @Operation(
    "A fine-tune's events (status, messages, metrics); with Accept: text/event-stream, a live stream that ends with the job",
    {
      status: 200,
      schema: listSchema(jobEventSchema, 'JobEventList'),
    },
  )
  async events(
    @CurrentCaller() caller: Caller,
    @Param('job_id', { schema: jobId }) id: string,
    @Query({ schema: listQuerySchema(idSchema('jev')) }) query: ListQuery,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    if (!accept?.includes('text/event-stream')) return this.fineTunes.events(caller, id, query);
    await this.fineTunes.get(caller, id); // 404 before the stream starts
    const stream = eventStream(reply);
    let after = query.after;
    const send = (events: JobEventDto[]) => {
      for (const event of events)
        stream.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      after = events.at(-1)?.id ?? after;
    };
    const follow = async () => {
      while (!stream.gone()) {
        try {
          const page = await this.fineTunes.events(caller, id, { limit: 100, ...(after ? { after } : {}) });
          send(page.data);
          if (page.has_more) continue;
          const job = await this.fineTunes.get(caller, id);
          if (TERMINAL.has(job.status)) {
            // Events written with the final status are already out: one more read catches stragglers.
            send((await this.fineTunes.events(caller, id, { limit: 100, ...(after ? { after } : {}) })).data);
            stream.write(`event: end\ndata: ${JSON.stringify({ status: job.status })}\n\n`);
            return;
          }
        } catch (error) {
          // A database blip pauses the stream (a comment keeps the client informed); it resumes
          // after the last event sent. Anything else ends it with the problem, never silently.
          if (!isDatabaseOutage(error)) throw error;
          stream.write(`: the database is unreachable; retrying\n\n`);
        }
        await new Promise((resolve) => setTimeout(resolve, SSE_POLL_MS));
      }
    };
    return stream.run(follow, (error) => {
      const { problem } = toProblem(error, String(reply.request.id), reply.request.url);
      stream.write(`event: error\ndata: ${JSON.stringify(problem)}\n\n`);
    });
  }

  @Get(':job_id/checkpoints')
  @RequireScope('read')
  @Operation("A fine-tune's checkpoints", { status: 200, schema: listSchema(checkpointSchema, 'CheckpointList') })
  checkpoints(@CurrentCaller() caller: Caller, @Param('job_id', { schema: jobId }) id: string) {
    return this.fineTunes.checkpoints(caller, id);
  }
}
