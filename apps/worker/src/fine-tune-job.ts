import {
  documentExternalId,
  newId,
  storedHyperparameters,
  type FineTuneMetrics,
  type Hyperparameters,
  type PlacementDto,
} from '@tessera/contracts';
import type { TenantContext } from '@tessera/db';
import {
  ChatTemplateError,
  decodeCheckpoint,
  defaultPlacementBudget,
  encodeCentroid,
  encodeCheckpoint,
  hyperparameterProblems,
  DEFAULT_HYPERPARAMETERS,
  selectPlacements,
  train,
  TrainingCancelled,
  type Hyperparameters as EngineHyperparameters,
  type TargetModule,
  type TrainingCheckpoint,
  type TrainingModel,
  type TrainingProgress,
  type TrainingRecord,
} from '@tessera/engine';
import type { TrainJobData } from '@tessera/queue';
import { endFineTune, moveAdapterVersions, moveJob } from '@tessera/domain';
import { enqueueDeliveries } from '@tessera/webhooks';
import { UnrecoverableError, type Job as QueueJob } from 'bullmq';
import { eraseCheckpoints } from './deletion-cascade.js';
import { eraseBlob } from './erase-blob.js';
import { isLastAttempt, jobEvents, staleByDeletion, type JobDeps } from './job-deps.js';

export interface FineTuneDeps extends JobDeps {
  /** Aborted when the worker shuts down: the job checkpoints and goes back to the queue. */
  shutdown: AbortSignal;
}

/** How often a running job looks for a cancel request (a cheap indexed read). */
const CANCEL_POLL_MS = 500;

/**
 * Runs one fine-tune job: Postgres holds its state, the blob store its data, checkpoints and
 * result. A retried job (after a crash or a shutdown) resumes from its latest checkpoint, so
 * the adapter is the same bytes as an uninterrupted run's.
 */
export async function runFineTune(queueJob: QueueJob<TrainJobData>, deps: FineTuneDeps): Promise<void> {
  const { jobId, tenantId } = queueJob.data;
  const ctx: TenantContext = { tenantId };
  const { database } = deps;
  const store = deps.blobs.forTenant(tenantId);
  const row = await database.withTenant(ctx, (tx) => tx.job.findFirst({ where: { id: jobId, tenantId } }));
  if (!row) throw new UnrecoverableError(`job ${jobId} does not exist`);
  if (row.status === 'succeeded' || row.status === 'failed' || row.status === 'cancelled') return;
  const event = jobEvents(database, ctx, jobId);
  const finish = async (status: 'failed' | 'cancelled', message: string | null) => {
    const deliveryIds = await database.withTenant(ctx, (tx) => endFineTune(tx, tenantId, row, status, message));
    await enqueueDeliveries(deps.webhooks, tenantId, deliveryIds);
  };
  if (row.cancelRequestedAt) return finish('cancelled', null);

  await database.withTenant(ctx, async (tx) => {
    await moveJob(tx, tenantId, jobId, 'running', {
      data: { attempts: { increment: 1 }, startedAt: row.startedAt ?? new Date() },
      event: { data: { attempt: row.attempts + 1 } },
    });
    // A version a deletion reached before the start stays stale: it never goes live.
    if (row.adapterVersionId)
      await moveAdapterVersions(tx, tenantId, [row.adapterVersionId], 'training', { ifAllowed: true });
  });

  // Everything that can be wrong with the inputs is found here, before training: no retry helps it.
  let model: TrainingModel;
  let records: TrainingRecord[];
  let documentIds: string[];
  let hyperparameters: EngineHyperparameters;
  let validationFraction: number;
  try {
    const [baseModel, dataset] = await database.withTenant(ctx, (tx) =>
      Promise.all([
        tx.baseModel.findFirstOrThrow({ where: { id: row.baseModelId! } }),
        tx.dataset.findFirstOrThrow({ where: { id: row.datasetId!, tenantId } }),
      ]),
    );
    model = await deps.models.load(baseModel);
    const params = row.params as { hyperparameters: unknown; validation_split: number };
    validationFraction = params.validation_split;
    hyperparameters = engineHyperparameters(storedHyperparameters(params.hyperparameters), validationFraction);
    const problems = hyperparameterProblems(hyperparameters, model.config);
    if (problems.length) throw new Error(`hyperparameters: ${problems.join('; ')}`);
    // The documents recorded for this version when the job was made (a partition's, or the
    // dataset's), less any deleted since: a deletion sees them as this version's from the start.
    const recorded = row.adapterVersionId
      ? await database.withTenant(ctx, (tx) =>
          tx.adapterVersionDocument.findMany({
            where: { adapterVersionId: row.adapterVersionId! },
            select: { documentId: true },
          }),
        )
      : [];
    // Never "the whole dataset": a job reads only what its caller could read, as recorded.
    if (recorded.length === 0) throw new Error('the job records no documents to train on');
    const documents = await database.withTenant(ctx, (tx) =>
      tx.document.findMany({
        where: { tenantId, datasetId: dataset.id, status: 'active', id: { in: recorded.map((d) => d.documentId) } },
      }),
    );
    const active = new Map(documents.map((d) => [d.externalId, d.id]));
    ({ records, documentIds } = datasetRecords(new TextDecoder().decode(await store.get(dataset.blob!)), active));
    if (records.length === 0) throw new Error('the dataset has no active documents to train on');
  } catch (error) {
    const message = (error as Error).message;
    await finish('failed', message);
    throw new UnrecoverableError(message);
  }

  const stored = storedHyperparameters((row.params as { hyperparameters: unknown }).hyperparameters);
  if (stored.target_modules === 'auto' && row.adapterVersionId) {
    // Placed once and kept on the version: a resumed run trains the same placements.
    const version = await database.withTenant(ctx, (tx) =>
      tx.adapterVersion.findFirstOrThrow({ where: { id: row.adapterVersionId! }, select: { placement: true } }),
    );
    let placement = version.placement as PlacementDto | null;
    if (!placement) {
      try {
        placement = await choosePlacement(model, records, hyperparameters, stored, deps);
      } catch (error) {
        // No placement fits the budget, or the probe cannot run on these inputs: no retry helps it.
        const message = `placement: ${(error as Error).message}`;
        await finish('failed', message);
        throw new UnrecoverableError(message);
      }
      const chosen = placement;
      await database.withTenant(ctx, (tx) =>
        tx.adapterVersion.update({
          where: { id: row.adapterVersionId! },
          data: {
            placement: chosen as never,
            targetModules: [...new Set(chosen.chosen.map((key) => key.split('.').slice(2).join('.')))],
          },
        }),
      );
      await event(
        'message',
        `placed by gradient rank in ${placement.probe_seconds.toFixed(1)} s: ${placement.chosen.join(', ')} (${placement.params} of ${placement.budget_params} parameters)`,
      );
    }
    hyperparameters = { ...hyperparameters, placements: placement.chosen };
  }

  const latest = await database.withTenant(ctx, (tx) =>
    tx.checkpoint.findFirst({ where: { tenantId, jobId }, orderBy: { step: 'desc' } }),
  );
  let resume: TrainingCheckpoint | undefined;
  if (latest) {
    resume = decodeCheckpoint(await store.get(latest.blob));
    await event('message', `resuming from the checkpoint of step ${latest.step}`);
  }

  // Cancel requests and shutdown both end the run at the next step boundary.
  const stop = new AbortController();
  const onShutdown = () => stop.abort('shutdown');
  deps.shutdown.addEventListener('abort', onShutdown);
  if (deps.shutdown.aborted) onShutdown();
  let lastCancelCheck = 0;
  // Progress writes are chained so they land in order and never overlap.
  let writes: Promise<unknown> = Promise.resolve();
  const later = (work: () => Promise<unknown>) =>
    (writes = writes
      .then(work)
      .catch((e) => deps.log(`job ${jobId}: writing progress failed: ${(e as Error).message}`)));
  const onProgress = (p: TrainingProgress) => {
    const data = {
      step: p.step,
      total_steps: p.totalSteps,
      loss: p.loss,
      learning_rate: p.learningRate,
      grad_norm: p.gradNorm,
      tokens_per_second: p.tokensPerSecond,
      ...(p.validation ? { validation_loss: p.validation.loss, validation_accuracy: p.validation.accuracy } : {}),
    };
    later(async () => {
      await database.withTenant(ctx, (tx) =>
        tx.job.update({ where: { id: jobId }, data: { progress: p.step / p.totalSteps } }),
      );
      await event('metric', null, data);
      if (Date.now() - lastCancelCheck > CANCEL_POLL_MS) {
        lastCancelCheck = Date.now();
        const current = await database.withTenant(ctx, (tx) =>
          tx.job.findFirst({ where: { id: jobId }, select: { cancelRequestedAt: true } }),
        );
        if (current?.cancelRequestedAt) stop.abort('cancel');
      }
    });
  };
  const onCheckpoint = async (checkpoint: TrainingCheckpoint) => {
    await writes;
    const ref = await store.put(encodeCheckpoint(checkpoint));
    await database.withTenant(ctx, (tx) =>
      tx.checkpoint.upsert({
        where: { jobId_step: { jobId, step: checkpoint.step } },
        create: { id: newId('ckpt'), tenantId, jobId, step: checkpoint.step, blob: ref.sha256 },
        update: { blob: ref.sha256 },
      }),
    );
  };

  try {
    const result = await train({
      model,
      data: records,
      hyperparameters,
      threads: deps.threads,
      executionProvider: deps.executionProvider,
      signal: stop.signal,
      onProgress,
      onCheckpoint,
      ...(resume ? { resume } : {}),
    });
    await writes;
    const weights = await store.put(result.peft.weights);
    const metrics: FineTuneMetrics = {
      steps: result.metrics.steps,
      train_loss: result.metrics.trainLoss,
      validation_loss: result.metrics.validationLoss,
      validation_accuracy: result.metrics.validationAccuracy,
      base_validation_loss: result.metrics.initialValidationLoss,
      train_tokens: result.metrics.trainTokens,
      seconds: result.metrics.seconds,
      tokens_per_second: result.metrics.tokensPerSecond,
    };
    const delivered = await database.withTenant(ctx, async (tx) => {
      // A deletion reached this version while it trained: it never goes live (its deletion retrains it).
      const finished = { progress: 1, finishedAt: new Date() };
      if (await staleByDeletion(tx, tenantId, row.adapterVersionId, documentIds)) {
        await moveJob(tx, tenantId, jobId, 'succeeded', {
          data: {
            ...finished,
            result: { metrics, adapter_version_id: row.adapterVersionId, superseded_by_deletion: true } as never,
          },
          event: {
            message:
              'succeeded: a document of this version was deleted while it trained; its weights and checkpoints are erased and the deletion retrains it',
            data: metrics as never,
          },
        });
        return null;
      }
      const deliveryIds: string[] = [];
      if (row.adapterVersionId) {
        const ready = await moveAdapterVersions(tx, tenantId, [row.adapterVersionId], 'ready', {
          data: {
            weightsBlob: weights.sha256,
            metrics: metrics as never,
            centroid: encodeCentroid(result.centroid),
            trainingJobId: jobId,
            readyAt: new Date(),
          },
          webhooks: [{ type: 'adapter.ready', data: { id: row.adapterId!, adapter_version_id: row.adapterVersionId } }],
          ifAllowed: true,
        });
        if (!ready) {
          // Its adapter was deleted (or the version archived) while it trained: nothing goes live.
          await moveJob(tx, tenantId, jobId, 'cancelled', {
            data: {
              finishedAt: new Date(),
              error: { message: 'the adapter version was deleted or archived while it trained' },
            },
          });
          return null;
        }
        deliveryIds.push(...ready.deliveryIds);
        await tx.adapterVersionDocument.createMany({
          data: documentIds.map((documentId) => ({ tenantId, adapterVersionId: row.adapterVersionId!, documentId })),
          skipDuplicates: true,
        });
      }
      const moved = await moveJob(tx, tenantId, jobId, 'succeeded', {
        data: { ...finished, result: { metrics, adapter_version_id: row.adapterVersionId } as never },
        event: { data: metrics as never },
        webhooks: [
          {
            type: 'fine_tune.succeeded',
            data: { id: jobId, adapter_id: row.adapterId, adapter_version_id: row.adapterVersionId },
          },
        ],
      });
      return [...deliveryIds, ...moved!.deliveryIds];
    });
    if (delivered === null) {
      // Written while the deletion ran, they may postdate its erasure: this run's copies go too.
      await eraseBlob(deps, ctx, weights.sha256);
      await eraseCheckpoints(deps, ctx, [jobId]);
      return;
    }
    await enqueueDeliveries(deps.webhooks, tenantId, delivered);
  } catch (error) {
    await writes;
    if (error instanceof TrainingCancelled) {
      if (stop.signal.reason === 'shutdown') {
        await event(
          'message',
          `worker shutting down after step ${error.checkpoint.step}; the job resumes from this checkpoint`,
        );
        throw new Error('worker shut down; the job resumes from its checkpoint');
      }
      return finish('cancelled', null);
    }
    const message = (error as Error).message;
    // The base model's chat template fails on this data: every retry would too.
    if (error instanceof ChatTemplateError) {
      await finish('failed', message);
      throw new UnrecoverableError(message);
    }
    if (isLastAttempt(queueJob)) await finish('failed', message);
    else await event('message', `attempt failed (${message}); retrying`);
    throw error;
  } finally {
    deps.shutdown.removeEventListener('abort', onShutdown);
  }
}

/**
 * target_modules "auto": probes the base model's gradients on the training records and keeps
 * the best-ranked placements within the budget (default: what PEFT's default placement holds at
 * this rank).
 */
async function choosePlacement(
  model: TrainingModel,
  records: TrainingRecord[],
  hyperparameters: EngineHyperparameters,
  stored: Hyperparameters,
  deps: Pick<JobDeps, 'probers'>,
): Promise<PlacementDto> {
  const probe = await deps.probers.of(model).probe({
    data: records,
    hyperparameters: { ...hyperparameters, validationFraction: 0 },
  });
  const budget = stored.placement?.budget_params ?? defaultPlacementBudget(model.config, stored.rank);
  const chosen = selectPlacements(probe.scores, { rank: stored.rank, budgetParameters: budget });
  const held = new Set(chosen);
  return {
    strategy: 'gradient_rank',
    budget_params: budget,
    chosen,
    params: probe.scores.filter((s) => held.has(s.key)).reduce((sum, s) => sum + stored.rank * s.parametersPerRank, 0),
    scores: probe.scores.map((s) => ({
      projection: s.key,
      layer: s.layer,
      module: s.module,
      gradient_rank: s.gradientRank,
      gradient_norm: s.gradientNorm,
    })),
    probe_seconds: probe.seconds,
  };
}

/** Validation evaluations in a fine-tune whose hyperparameters do not set eval_every. */
const FINE_TUNE_EVALUATIONS = 10;

/** The API's hyperparameters in the engine's terms. */
export function engineHyperparameters(h: Hyperparameters, validationFraction: number): EngineHyperparameters {
  return {
    ...DEFAULT_HYPERPARAMETERS,
    rank: h.rank,
    alpha: h.alpha,
    // "auto" is placed by a probe before training (choosePlacement): no module list here.
    ...(h.target_modules && h.target_modules !== 'auto' ? { targetModules: h.target_modules as TargetModule[] } : {}),
    learningRate: h.learning_rate,
    epochs: h.epochs,
    ...(h.max_steps ? { maxSteps: h.max_steps } : {}),
    batchSize: h.batch_size,
    maxSequenceLength: h.max_sequence_length,
    seed: h.seed,
    checkpointEvery: h.checkpoint_every,
    minLearningRateRatio: h.min_lr_rate,
    adamBeta1: h.adam_beta1,
    adamBeta2: h.adam_beta2,
    adamEpsilon: h.adam_epsilon,
    packing: h.packing,
    // The dashboard draws validation loss as a curve: ten points a run unless the caller says.
    ...(h.eval_every !== undefined ? { evalEvery: h.eval_every } : { evaluations: FINE_TUNE_EVALUATIONS }),
    validationFraction,
  };
}

/**
 * Each non-blank line of a dataset's JSONL in file order: its record without the routing
 * fields, and the external id of its document (its document_id, else `line-<n>`, as the
 * upload recorded it).
 */
export function* datasetLines(jsonl: string): Generator<{ index: number; externalId: string; record: TrainingRecord }> {
  for (const [index, line] of jsonl.split('\n').entries()) {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.trim() === '') continue;
    const { document_id: documentId, access_group: _group, ...record } = JSON.parse(text) as Record<string, unknown>;
    yield { index, externalId: documentExternalId(documentId, index + 1), record: record as TrainingRecord };
  }
}

/** The dataset's records of active documents (external id → document id), in file order. */
export function datasetRecords(
  jsonl: string,
  activeDocuments: Map<string, string>,
): { records: TrainingRecord[]; documentIds: string[] } {
  const records: TrainingRecord[] = [];
  const used = new Set<string>();
  for (const { externalId, record } of datasetLines(jsonl)) {
    const id = activeDocuments.get(externalId);
    if (!id) continue;
    used.add(id);
    records.push(record);
  }
  return { records, documentIds: [...used] };
}
