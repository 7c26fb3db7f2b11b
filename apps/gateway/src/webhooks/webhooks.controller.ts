import { Body, Controller, Delete, Get, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  createdWebhookEndpointSchema,
  createWebhookEndpointSchema,
  idSchema,
  listQuerySchema,
  listSchema,
  updateWebhookEndpointSchema,
  webhookDeliverySchema,
  webhookEndpointSchema,
  type CreateWebhookEndpoint,
  type ListQuery,
  type UpdateWebhookEndpoint,
} from '@tessera/contracts';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { ShownOnce } from '../common/shown-once.decorator.js';
import { WebhooksService } from './webhooks.service.js';

const endpointId = idSchema('wh');
const deliveryId = idSchema('whd');

@ApiTags('webhooks')
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @RequireScope('admin')
  @Operation('Create a webhook endpoint (its whsec_ secret is shown once)', {
    status: 201,
    schema: createdWebhookEndpointSchema,
  })
  @ShownOnce('secret')
  create(@CurrentCaller() caller: Caller, @Body({ schema: createWebhookEndpointSchema }) body: CreateWebhookEndpoint) {
    return this.webhooks.create(caller, body);
  }

  @Get()
  @RequireScope('read')
  @Operation('List webhook endpoints', {
    status: 200,
    schema: listSchema(webhookEndpointSchema, 'WebhookEndpointList'),
  })
  list(@CurrentCaller() caller: Caller, @Query({ schema: listQuerySchema(endpointId) }) query: ListQuery) {
    return this.webhooks.list(caller, query);
  }

  @Get(':webhook_id')
  @RequireScope('read')
  @Operation('Get a webhook endpoint', { status: 200, schema: webhookEndpointSchema })
  get(@CurrentCaller() caller: Caller, @Param('webhook_id', { schema: endpointId }) id: string) {
    return this.webhooks.get(caller, id);
  }

  @Patch(':webhook_id')
  @RequireScope('admin')
  @Operation('Change, enable or disable a webhook endpoint', { status: 200, schema: webhookEndpointSchema })
  update(
    @CurrentCaller() caller: Caller,
    @Param('webhook_id', { schema: endpointId }) id: string,
    @Body({ schema: updateWebhookEndpointSchema }) body: UpdateWebhookEndpoint,
  ) {
    return this.webhooks.update(caller, id, body);
  }

  @Delete(':webhook_id')
  @RequireScope('admin')
  @Operation('Delete a webhook endpoint and its delivery log', { status: 204 })
  delete(@CurrentCaller() caller: Caller, @Param('webhook_id', { schema: endpointId }) id: string) {
    return this.webhooks.delete(caller, id);
  }

  @Post(':webhook_id/ping')
  @RequireScope('admin')
  @Operation('Send a test `ping` event to this endpoint', { status: 202, schema: webhookDeliverySchema })
  ping(@CurrentCaller() caller: Caller, @Param('webhook_id', { schema: endpointId }) id: string) {
    return this.webhooks.ping(caller, id);
  }

  @Get(':webhook_id/deliveries')
  @RequireScope('read')
  @Operation("The endpoint's deliveries, each with every attempt", {
    status: 200,
    schema: listSchema(webhookDeliverySchema, 'WebhookDeliveryList'),
  })
  deliveries(
    @CurrentCaller() caller: Caller,
    @Param('webhook_id', { schema: endpointId }) id: string,
    @Query({ schema: listQuerySchema(deliveryId) }) query: ListQuery,
  ) {
    return this.webhooks.deliveries(caller, id, query);
  }

  @Get(':webhook_id/deliveries/:delivery_id')
  @RequireScope('read')
  @Operation('Get a delivery with every attempt', { status: 200, schema: webhookDeliverySchema })
  delivery(
    @CurrentCaller() caller: Caller,
    @Param('webhook_id', { schema: endpointId }) id: string,
    @Param('delivery_id', { schema: deliveryId }) delivery: string,
  ) {
    return this.webhooks.delivery(caller, id, delivery);
  }

  @Post(':webhook_id/deliveries/:delivery_id/redeliver')
  @RequireScope('admin')
  @Operation('Send a delivery again (same event, same webhook-id), logged as a new attempt', {
    status: 202,
    schema: webhookDeliverySchema,
  })
  redeliver(
    @CurrentCaller() caller: Caller,
    @Param('webhook_id', { schema: endpointId }) id: string,
    @Param('delivery_id', { schema: deliveryId }) delivery: string,
  ) {
    return this.webhooks.redeliver(caller, id, delivery);
  }
}
