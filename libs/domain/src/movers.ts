import { newId } from '@tessera/contracts';
import type { Prisma, TenantTransaction } from '@tessera/db';
import { IllegalTransition, sourcesOf, type Lifecycle, type StatusOf } from './transitions.js';
import { recordWebhookEvents, type WebhookNote } from './webhook-events.js';

/*
 * The movers: the only writers of the lifecycle statuses. Each is a compare-and-set (the row
 * moves only from a status the table allows), with what the move carries (finish times,
 * results, weights) and its job event and webhook events, all in the caller's transaction.
 */

/** What a move may carry besides the status. */
export interface MoveOptions<Data> {
  /** Columns written with the status. */
  data?: Data;
  /** Webhook events of the move (their deliveries come back in `deliveryIds`, to enqueue after commit). */
  webhooks?: readonly WebhookNote[];
  /**
   * The row may have moved on meanwhile (a deletion, a cancel): then nothing is written and
   * the mover answers null instead of throwing IllegalTransition.
   */
  ifAllowed?: boolean;
  /**
   * Narrows the statuses the row may move from (within what the table allows): e.g. a build
   * turns a composition ready only from building, never from stale, where only a knowledge
   * base's retrain may.
   */
  from?: readonly string[];
}

export interface Moved {
  /** The ids that moved. */
  ids: string[];
  /** Webhook deliveries to enqueue once the transaction commits. */
  deliveryIds: string[];
}

/** A job status event: what GET /v1/fine-tunes/{id}/events and its stream show. */
export interface JobStatusEvent {
  message?: string;
  data?: Record<string, unknown>;
}

type Row = { id: string; status: string };

/** The compare-and-set shared by every mover; `update` writes only rows in one of `sources`. */
async function compareAndSet<L extends Lifecycle>(
  lifecycle: L,
  ids: readonly string[],
  to: StatusOf<L>,
  options: { ifAllowed?: boolean; from?: readonly string[] },
  update: (sources: StatusOf<L>[]) => Promise<{ count: number }>,
  current: () => Promise<Row[]>,
): Promise<boolean> {
  if (ids.length === 0) return true;
  const sources = sourcesOf(lifecycle, to).filter((s) => !options.from || options.from.includes(s));
  const { count } = await update(sources);
  if (count === ids.length) return true;
  const rows = await current();
  const missing = ids.filter((id) => !rows.some((r) => r.id === id));
  if (missing.length) throw new Error(`${lifecycle} ${missing.join(', ')} does not exist`);
  // Some rows moved before the others were found illegal: the caller's transaction rolls them back.
  if (options.ifAllowed && count === 0) return false;
  const refused = rows.filter((r) => !(sources as string[]).includes(r.status));
  const shown = refused.length ? refused : rows;
  throw new IllegalTransition(
    lifecycle,
    shown.map((r) => r.id),
    shown.map((r) => r.status),
    to,
  );
}

/** What the movers need of a Prisma model: every lifecycle table has `id`, `tenant_id` and `status`. */
interface StatusTable {
  updateMany(args: { where: object; data: object }): Promise<{ count: number }>;
  findMany(args: { where: object; select: { id: true; status: true } }): Promise<Row[]>;
}

/** The compare-and-set on one lifecycle table; the typed movers below give it their model. */
function moveRows<L extends Lifecycle>(
  lifecycle: L,
  table: StatusTable,
  tenantId: string,
  ids: readonly string[],
  to: StatusOf<L>,
  options: MoveOptions<object>,
): Promise<boolean> {
  const where = { tenantId, id: { in: [...ids] } };
  return compareAndSet(
    lifecycle,
    ids,
    to,
    options,
    (sources) =>
      table.updateMany({ where: { ...where, status: { in: sources } }, data: { ...options.data, status: to } }),
    () => table.findMany({ where, select: { id: true, status: true } }),
  );
}

async function moved(
  tx: TenantTransaction,
  tenantId: string,
  ids: readonly string[],
  options: MoveOptions<object>,
): Promise<Moved> {
  return { ids: [...ids], deliveryIds: await recordWebhookEvents(tx, tenantId, options.webhooks ?? []) };
}

// Prisma gives each model its own delegate type; `as StatusTable` keeps the one shape they share.

/** Moves a job, and writes its status event (and any webhook events) with it. */
export async function moveJob(
  tx: TenantTransaction,
  tenantId: string,
  id: string,
  to: StatusOf<'job'>,
  options: MoveOptions<Omit<Prisma.JobUncheckedUpdateManyInput, 'status'>> & { event?: JobStatusEvent } = {},
): Promise<Moved | null> {
  if (!(await moveRows('job', tx.job as unknown as StatusTable, tenantId, [id], to, options))) return null;
  await tx.jobEvent.create({
    data: {
      id: newId('jev'),
      tenantId,
      jobId: id,
      type: 'status',
      message: options.event?.message ?? to,
      ...(options.event?.data ? { data: options.event.data as never } : {}),
    },
  });
  return moved(tx, tenantId, [id], options);
}

/**
 * Records a new job, queued, with its first status event. `data` is the row less its status;
 * use moveJob for every later status.
 */
export async function createJob(
  tx: TenantTransaction,
  data: Omit<Prisma.JobUncheckedCreateInput, 'status' | 'id'>,
  event: JobStatusEvent = {},
) {
  const job = await tx.job.create({ data: { ...data, id: newId('job'), status: 'queued' } });
  await tx.jobEvent.create({
    data: {
      id: newId('jev'),
      tenantId: data.tenantId,
      jobId: job.id,
      type: 'status',
      message: event.message ?? 'queued',
      ...(event.data ? { data: event.data as never } : {}),
    },
  });
  return job;
}

export async function moveAdapterVersions(
  tx: TenantTransaction,
  tenantId: string,
  ids: readonly string[],
  to: StatusOf<'adapterVersion'>,
  options: MoveOptions<Omit<Prisma.AdapterVersionUncheckedUpdateManyInput, 'status'>> = {},
): Promise<Moved | null> {
  return (await moveRows('adapterVersion', tx.adapterVersion as unknown as StatusTable, tenantId, ids, to, options))
    ? moved(tx, tenantId, ids, options)
    : null;
}

export async function moveCompositions(
  tx: TenantTransaction,
  tenantId: string,
  ids: readonly string[],
  to: StatusOf<'composition'>,
  options: MoveOptions<Omit<Prisma.CompositionUncheckedUpdateManyInput, 'status'>> = {},
): Promise<Moved | null> {
  return (await moveRows('composition', tx.composition as unknown as StatusTable, tenantId, ids, to, options))
    ? moved(tx, tenantId, ids, options)
    : null;
}

export async function moveDeletion(
  tx: TenantTransaction,
  tenantId: string,
  id: string,
  to: StatusOf<'deletion'>,
  options: MoveOptions<Omit<Prisma.DeletionRequestUncheckedUpdateManyInput, 'status'>> = {},
): Promise<Moved | null> {
  return (await moveRows('deletion', tx.deletionRequest as unknown as StatusTable, tenantId, [id], to, options))
    ? moved(tx, tenantId, [id], options)
    : null;
}

export async function moveDocuments(
  tx: TenantTransaction,
  tenantId: string,
  ids: readonly string[],
  to: StatusOf<'document'>,
  options: MoveOptions<Omit<Prisma.DocumentUncheckedUpdateManyInput, 'status'>> = {},
): Promise<Moved | null> {
  return (await moveRows('document', tx.document as unknown as StatusTable, tenantId, ids, to, options))
    ? moved(tx, tenantId, ids, options)
    : null;
}

export async function moveWebhookDelivery(
  tx: TenantTransaction,
  tenantId: string,
  id: string,
  to: StatusOf<'webhookDelivery'>,
  options: Omit<MoveOptions<Omit<Prisma.WebhookDeliveryUncheckedUpdateManyInput, 'status'>>, 'webhooks'> = {},
): Promise<Moved | null> {
  return (await moveRows('webhookDelivery', tx.webhookDelivery as unknown as StatusTable, tenantId, [id], to, options))
    ? { ids: [id], deliveryIds: [] }
    : null;
}
