import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  newId,
  type CreateWebhookEndpoint,
  type ListQuery,
  type Page,
  type UpdateWebhookEndpoint,
  type WebhookDeliveryDto,
  type WebhookEndpointDto,
} from '@tessera/contracts';
import { Database, type TenantContext, type TenantTransaction } from '@tessera/db';
import { moveWebhookDelivery, recordWebhookEvent } from '@tessera/domain';
import {
  enqueueDeliveries,
  isLegacyPlaintext,
  newWebhookSecret,
  webhookSecretBox,
  webhookUrlProblem,
  type WebhookSecretBox,
} from '@tessera/webhooks';
import { enqueueAfterCommit } from '../common/enqueue-after-commit.js';
import { recordAudit } from '../common/audit.util.js';
import type { Caller } from '../common/caller.js';
import { pageArgs, toPage } from '../common/pagination.util.js';
import { ProblemException } from '../common/problem.exception.js';
import { WEBHOOK_QUEUE, type WebhookQueue } from '../common/queues.provider.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { toDeliveryDto, toEndpointDto } from './webhook.mapper.js';

const WITH_ATTEMPTS = { event: true, attempts: true } as const;

@Injectable()
export class WebhooksService {
  private readonly logger = new Logger(WebhooksService.name);
  private readonly secretBox: WebhookSecretBox;

  constructor(
    private readonly database: Database,
    @Inject(WEBHOOK_QUEUE) private readonly queue: WebhookQueue,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    this.secretBox = webhookSecretBox(config);
  }

  /** The secret is returned here and never again; the row holds it sealed (WEBHOOK_SECRET_KEY). */
  async create(caller: Caller, body: CreateWebhookEndpoint): Promise<WebhookEndpointDto & { secret: string }> {
    await this.checkUrl(body.url);
    return this.database.withTenant(caller, async (tx) => {
      const id = newId('wh');
      const secret = newWebhookSecret();
      const row = await tx.webhookEndpoint.create({
        data: {
          id,
          tenantId: caller.tenantId,
          url: body.url,
          description: body.description ?? null,
          secret: this.secretBox.seal(secret, id),
          eventTypes: body.event_types ?? [],
        },
      });
      await recordAudit(tx, caller, 'webhook_endpoint.created', { type: 'webhook_endpoint', id: row.id });
      return { ...toEndpointDto(row), secret };
    });
  }

  async list(ctx: TenantContext, query: ListQuery): Promise<Page<WebhookEndpointDto>> {
    const args = pageArgs(query);
    const rows = await this.database.readAsTenant(ctx, (tx) =>
      tx.webhookEndpoint.findMany({ ...args, where: { ...args.where, tenantId: ctx.tenantId } }),
    );
    return toPage(rows, query, toEndpointDto);
  }

  async get(ctx: TenantContext, id: string): Promise<WebhookEndpointDto> {
    return toEndpointDto(await this.database.readAsTenant(ctx, (tx) => findEndpoint(tx, ctx, id)));
  }

  async update(caller: Caller, id: string, body: UpdateWebhookEndpoint): Promise<WebhookEndpointDto> {
    if (body.url !== undefined) await this.checkUrl(body.url);
    return this.database.withTenant(caller, async (tx) => {
      const current = await findEndpoint(tx, caller, id);
      const row = await tx.webhookEndpoint.update({
        where: { id },
        data: {
          // A secret stored before encryption at rest is sealed on its endpoint's next write.
          ...(isLegacyPlaintext(current.secret) ? { secret: this.secretBox.seal(current.secret, id) } : {}),
          ...(body.url !== undefined ? { url: body.url } : {}),
          ...(body.description !== undefined ? { description: body.description } : {}),
          ...(body.event_types !== undefined ? { eventTypes: body.event_types } : {}),
          ...(body.enabled !== undefined
            ? { enabled: body.enabled, disabledAt: body.enabled ? null : new Date() }
            : {}),
        },
      });
      await recordAudit(tx, caller, 'webhook_endpoint.updated', { type: 'webhook_endpoint', id });
      return toEndpointDto(row);
    });
  }

  delete(caller: Caller, id: string): Promise<void> {
    return this.database.withTenant(caller, async (tx) => {
      await findEndpoint(tx, caller, id);
      await tx.webhookEndpoint.delete({ where: { id } });
      await recordAudit(tx, caller, 'webhook_endpoint.deleted', { type: 'webhook_endpoint', id });
    });
  }

  /** A `ping` event to this endpoint only. */
  async ping(caller: Caller, id: string): Promise<WebhookDeliveryDto> {
    const { deliveryIds } = await this.database.withTenant(caller, async (tx) => {
      const endpoint = await findEndpoint(tx, caller, id);
      if (!endpoint.enabled)
        throw new ProblemException('conflict', `Webhook endpoint ${id} is disabled; enable it first`);
      return recordWebhookEvent(tx, caller.tenantId, 'ping', { id }, id);
    });
    await enqueueAfterCommit(this.logger, `ping ${deliveryIds[0]}`, () =>
      enqueueDeliveries(this.queue, caller.tenantId, deliveryIds),
    );
    return this.delivery(caller, id, deliveryIds[0]!);
  }

  async deliveries(ctx: TenantContext, endpointId: string, query: ListQuery): Promise<Page<WebhookDeliveryDto>> {
    const args = pageArgs(query);
    const rows = await this.database.readAsTenant(ctx, async (tx) => {
      await findEndpoint(tx, ctx, endpointId);
      return tx.webhookDelivery.findMany({
        ...args,
        where: { ...args.where, tenantId: ctx.tenantId, endpointId },
        include: WITH_ATTEMPTS,
      });
    });
    return toPage(rows, query, toDeliveryDto);
  }

  async delivery(ctx: TenantContext, endpointId: string, deliveryId: string): Promise<WebhookDeliveryDto> {
    return toDeliveryDto(await this.database.readAsTenant(ctx, (tx) => findDelivery(tx, ctx, endpointId, deliveryId)));
  }

  /** Sends the same event (same webhook-id) again, as a new attempt in the delivery's log. */
  async redeliver(caller: Caller, endpointId: string, deliveryId: string): Promise<WebhookDeliveryDto> {
    const delivery = await this.database.withTenant(caller, async (tx) => {
      const found = await findDelivery(tx, caller, endpointId, deliveryId);
      if (found.status === 'pending')
        throw new ProblemException('conflict', `Delivery ${deliveryId} is still being attempted`);
      if (!found.endpoint.enabled)
        throw new ProblemException('conflict', `Webhook endpoint ${endpointId} is disabled; enable it first`);
      await recordAudit(tx, caller, 'webhook_delivery.redelivered', { type: 'webhook_delivery', id: deliveryId });
      await moveWebhookDelivery(tx, caller.tenantId, deliveryId, 'pending', { data: { nextAttemptAt: new Date() } });
      return found;
    });
    await enqueueAfterCommit(this.logger, `delivery ${deliveryId}`, () =>
      enqueueDeliveries(this.queue, caller.tenantId, [deliveryId], delivery.attemptCount + 1),
    );
    return this.delivery(caller, endpointId, deliveryId);
  }

  private async checkUrl(url: string): Promise<void> {
    const problem = await webhookUrlProblem(url, this.config.WEBHOOK_ALLOW_PRIVATE);
    if (problem)
      throw new ProblemException('validation', 'This URL cannot receive webhooks', [
        { field: 'body.url', message: problem },
      ]);
  }
}

async function findEndpoint(tx: TenantTransaction, ctx: TenantContext, id: string) {
  const row = await tx.webhookEndpoint.findFirst({ where: { id, tenantId: ctx.tenantId } });
  if (!row) throw ProblemException.notFound('webhook endpoint', id);
  return row;
}

async function findDelivery(tx: TenantTransaction, ctx: TenantContext, endpointId: string, deliveryId: string) {
  const row = await tx.webhookDelivery.findFirst({
    where: { id: deliveryId, endpointId, tenantId: ctx.tenantId },
    include: { ...WITH_ATTEMPTS, endpoint: true },
  });
  if (!row) throw ProblemException.notFound('webhook delivery', deliveryId);
  return row;
}
