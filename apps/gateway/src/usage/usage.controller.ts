import { Controller, Get, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { queuesSchema, tenantUsageSchema, usageQuerySchema, type UsageQuery } from '@tessera/contracts';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { UsageService } from './usage.service.js';

/** What the dashboard's overview shows: inference usage per adapter, and how busy the job queues are. */
@ApiTags('usage')
@Controller('v1')
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  @Get('usage')
  @RequireScope('read')
  @Operation('Inference requests and tokens per adapter in a time window', { status: 200, schema: tenantUsageSchema })
  perAdapter(@CurrentCaller() caller: Caller, @Query({ schema: usageQuerySchema }) query: UsageQuery) {
    return this.usage.perAdapter(caller, query);
  }

  @Get('queues')
  @RequireScope('read')
  @Operation("Depth of the platform's job queues and this tenant's queued and running jobs", {
    status: 200,
    schema: queuesSchema,
  })
  queues(@CurrentCaller() caller: Caller) {
    return this.usage.queues(caller);
  }
}
