import type {
  AdapterVersionStatus,
  CompositionStatus,
  DeletionStatus,
  DocumentStatus,
  JobStatus,
  WebhookDeliveryStatus,
} from '@tessera/db';

/**
 * Every status each lifecycle may move to from each status (docs/lifecycles.md). A status
 * moving to itself is listed where a retry or a second deletion legitimately repeats it.
 * The movers in this library are the only writers of these statuses.
 */
export const TRANSITIONS = {
  job: {
    // A partitioned fine-tune's parent ends without running itself: its partitions do.
    queued: ['running', 'succeeded', 'failed', 'cancelled'],
    // running → running: another attempt after a crash or a shutdown.
    running: ['running', 'succeeded', 'failed', 'cancelled'],
    succeeded: [],
    failed: [],
    cancelled: [],
  },
  adapterVersion: {
    // queued → ready: an uploaded version's weights arrived.
    queued: ['training', 'ready', 'stale', 'archived', 'deleted'],
    training: ['training', 'ready', 'stale', 'archived', 'deleted'],
    ready: ['stale', 'archived', 'deleted'],
    // A second deletion reaches a version the first already made stale.
    stale: ['stale', 'deleted'],
    archived: ['deleted'],
    deleted: [],
  },
  composition: {
    queued: ['building', 'stale', 'failed'],
    building: ['building', 'ready', 'stale', 'failed'],
    ready: ['stale', 'archived'],
    // A knowledge base is ready again once its partitions are retrained; a merge is rebuilt (queued).
    stale: ['stale', 'ready', 'queued', 'failed'],
    failed: [],
    archived: [],
  },
  deletion: {
    pending: ['retraining', 'failed'],
    retraining: ['auditing', 'failed'],
    auditing: ['completed', 'failed'],
    completed: [],
    failed: [],
  },
  document: {
    active: ['deleting'],
    deleting: ['deleted'],
    deleted: [],
  },
  webhookDelivery: {
    // pending → pending: an attempt failed and the next one is scheduled; ended ones may be redelivered.
    pending: ['pending', 'succeeded', 'failed'],
    succeeded: ['pending'],
    failed: ['pending'],
  },
} as const satisfies {
  job: Record<JobStatus, readonly JobStatus[]>;
  adapterVersion: Record<AdapterVersionStatus, readonly AdapterVersionStatus[]>;
  composition: Record<CompositionStatus, readonly CompositionStatus[]>;
  deletion: Record<DeletionStatus, readonly DeletionStatus[]>;
  document: Record<DocumentStatus, readonly DocumentStatus[]>;
  webhookDelivery: Record<WebhookDeliveryStatus, readonly WebhookDeliveryStatus[]>;
};

/** The statuses a row is created in; every other status is reached through TRANSITIONS. */
export const INITIAL = {
  job: ['queued'],
  // An uploaded version awaits its weights (queued); a deletion's retrain starts training at once.
  adapterVersion: ['queued', 'training'],
  // A knowledge base is ready from the start: it routes over whichever partitions are ready.
  composition: ['queued', 'ready'],
  deletion: ['pending'],
  document: ['active'],
  webhookDelivery: ['pending'],
} as const;

export type Lifecycle = keyof typeof TRANSITIONS;
export type StatusOf<L extends Lifecycle> = keyof (typeof TRANSITIONS)[L] & string;

export function canMove<L extends Lifecycle>(lifecycle: L, from: StatusOf<L>, to: StatusOf<L>): boolean {
  const table = TRANSITIONS[lifecycle] as Record<string, readonly string[]>;
  return table[from]?.includes(to) ?? false;
}

/** The statuses `to` may be reached from: what a mover's compare-and-set matches. */
export function sourcesOf<L extends Lifecycle>(lifecycle: L, to: StatusOf<L>): StatusOf<L>[] {
  const table = TRANSITIONS[lifecycle] as Record<string, readonly string[]>;
  return Object.keys(table).filter((from) => table[from]!.includes(to)) as StatusOf<L>[];
}

/** A move the table does not allow from the row's current status: a bug, or a race another writer won. */
export class IllegalTransition extends Error {
  constructor(
    readonly lifecycle: Lifecycle,
    readonly ids: readonly string[],
    readonly from: readonly string[],
    readonly to: string,
  ) {
    super(
      `${lifecycle} ${ids.join(', ')}: ${[...new Set(from)].join(' / ')} → ${to} is not a transition of the ${lifecycle} lifecycle`,
    );
    this.name = 'IllegalTransition';
  }
}
