import type { TenantContext } from '@tessera/db';
import {
  ChatTemplateError,
  mergeAdapters,
  mergeProblems,
  readPeftAdapter,
  trainGate,
  writeCompositionArtifact,
  type CompositionArtifact,
  type LoraAdapter,
  type MergeMethod,
} from '@tessera/engine';
import type { ComposeJobData } from '@tessera/queue';
import { failCompose, isNewestComposeJob, moveCompositions, moveJob } from '@tessera/domain';
import { enqueueDeliveries } from '@tessera/webhooks';
import { UnrecoverableError, type Job as QueueJob } from 'bullmq';
import { datasetRecords } from './fine-tune-job.js';
import { eraseBlob } from './erase-blob.js';
import { isLastAttempt, jobEvents, type JobDeps } from './job-deps.js';

export type ComposeDeps = JobDeps;

/** What POST /v1/compositions stored in the job's params (snake_case, as the API takes them). */
interface ComposeParams {
  density?: number;
  seed?: number;
  majority_sign_method?: 'total' | 'frequency';
  dataset_id?: string;
  max_steps?: number;
  learning_rate?: number;
  /** learned_gate: the documents the caller could read when it asked (the gateway checked their groups). */
  document_ids?: string[];
}

/**
 * Builds one composition from its members' pinned versions: a weight-space merge (linear,
 * cat, ties, dare_linear, dare_ties) or a learned gate trained over the frozen members on a
 * dataset. The artifact goes to the blob store; the composition turns ready and
 * `composition.ready` fires. Deterministic, so a retried job stores the same bytes.
 */
export async function runCompose(queueJob: QueueJob<ComposeJobData>, deps: ComposeDeps): Promise<void> {
  const { jobId, tenantId, compositionId } = queueJob.data;
  const ctx: TenantContext = { tenantId };
  const { database } = deps;
  const store = deps.blobs.forTenant(tenantId);
  const row = await database.withTenant(ctx, (tx) => tx.job.findFirst({ where: { id: jobId, tenantId } }));
  if (!row) throw new UnrecoverableError(`job ${jobId} does not exist`);
  if (row.status === 'succeeded' || row.status === 'failed' || row.status === 'cancelled') return;
  const event = jobEvents(database, ctx, jobId);
  const fail = (message: string) =>
    database.withTenant(ctx, (tx) => failCompose(tx, tenantId, jobId, compositionId, message));
  // A deletion made a member stale before the build could start or finish: the deletion rebuilds it.
  const staleMeanwhile = async () => {
    const message = 'a deletion made a member stale; the deletion rebuilds the composition';
    await database.withTenant(ctx, (tx) =>
      moveJob(tx, tenantId, jobId, 'cancelled', {
        data: { finishedAt: new Date(), error: { message } },
        event: { data: { reason: message } },
      }),
    );
  };

  const started = await database.withTenant(ctx, async (tx) => {
    if (!(await moveCompositions(tx, tenantId, [compositionId], 'building', { ifAllowed: true }))) return false;
    await moveJob(tx, tenantId, jobId, 'running', {
      data: { attempts: { increment: 1 }, startedAt: row.startedAt ?? new Date() },
      event: { data: { attempt: row.attempts + 1 } },
    });
    return true;
  });
  if (!started) return staleMeanwhile();

  try {
    const composition = await database.withTenant(ctx, (tx) =>
      tx.composition.findFirstOrThrow({
        where: { id: compositionId, tenantId },
        include: { members: { include: { adapterVersion: true }, orderBy: { adapterId: 'asc' } } },
      }),
    );
    const params = (row.params ?? {}) as ComposeParams;
    const members: LoraAdapter[] = [];
    for (const member of composition.members) {
      const version = member.adapterVersion;
      if (!version?.weightsBlob)
        throw new UnrecoverableError(`member adapter ${member.adapterId} has no ready weights`);
      members.push(
        readPeftAdapter({
          config: { peft_type: 'LORA', r: version.rank, lora_alpha: version.alpha },
          weights: await store.get(version.weightsBlob),
        }),
      );
    }
    let artifact: CompositionArtifact;
    let metrics: Record<string, unknown> = {};
    if (composition.method === 'learned_gate') {
      const [baseModel, dataset] = await database.withTenant(ctx, (tx) =>
        Promise.all([
          tx.baseModel.findFirstOrThrow({ where: { id: row.baseModelId! } }),
          tx.dataset.findFirstOrThrow({ where: { id: params.dataset_id ?? row.datasetId!, tenantId } }),
        ]),
      );
      const model = await deps.models.load(baseModel);
      const documents = await database.withTenant(ctx, (tx) =>
        tx.document.findMany({
          where: {
            tenantId,
            datasetId: dataset.id,
            status: 'active',
            // A gate made before its documents were recorded: only those its group covers, never the whole dataset.
            ...(params.document_ids
              ? { id: { in: params.document_ids } }
              : {
                  OR: [
                    { accessGroupId: null },
                    ...(composition.accessGroupId ? [{ accessGroupId: composition.accessGroupId }] : []),
                  ],
                }),
          },
        }),
      );
      const { records } = datasetRecords(
        new TextDecoder().decode(await store.get(dataset.blob!)),
        new Map(documents.map((d) => [d.externalId, d.id])),
      );
      if (records.length === 0)
        throw new UnrecoverableError('the dataset has no active documents to train the gate on');
      const gate = await trainGate({
        model,
        adapters: members,
        data: records,
        hyperparameters: {
          learningRate: params.learning_rate ?? 0.1,
          batchSize: 8,
          maxSteps: params.max_steps ?? 60,
          warmupSteps: 2,
          seed: params.seed ?? 0,
          validationFraction: 0.1,
          maxSequenceLength: Math.min(128, model.config.maxPositions),
        },
        threads: deps.threads,
        executionProvider: deps.executionProvider,
      });
      artifact = { kind: 'learned_gate', routers: gate.routers };
      metrics = {
        train_loss: gate.metrics.trainLoss,
        validation_loss: gate.metrics.validationLoss,
        base_validation_loss: gate.metrics.initialValidationLoss,
        steps: gate.metrics.steps,
      };
    } else {
      const weights = composition.members.map((m) => m.weight);
      const options = {
        ...(params.density !== undefined ? { density: params.density } : {}),
        ...(params.seed !== undefined ? { seed: params.seed } : {}),
        ...(params.majority_sign_method ? { majoritySignMethod: params.majority_sign_method } : {}),
      };
      const method = composition.method as MergeMethod;
      const problems = mergeProblems(members, weights, method, options);
      if (problems.length)
        throw new UnrecoverableError(`the members cannot be merged by ${method}: ${problems.join('; ')}`);
      const merged = mergeAdapters(members, weights, method, options);
      artifact = { kind: 'merged', adapter: merged };
      metrics = { rank: merged.rank };
    }
    const blob = await store.put(writeCompositionArtifact(artifact));
    const delivered = await database.withTenant(ctx, async (tx) => {
      // A deletion may have made the composition stale and queued its rebuild meanwhile: only the
      // newest compose job's build may land, and only while the composition is building.
      if (!(await isNewestComposeJob(tx, compositionId, jobId))) return null;
      const built = await moveCompositions(tx, tenantId, [compositionId], 'ready', {
        data: { artifactBlob: blob.sha256 },
        webhooks: [
          {
            type: 'composition.ready',
            data: {
              id: compositionId,
              name: composition.name,
              version: composition.version,
              method: composition.method,
            },
          },
        ],
        from: ['building'],
        ifAllowed: true,
      });
      if (!built) return null;
      await moveJob(tx, tenantId, jobId, 'succeeded', {
        data: { progress: 1, finishedAt: new Date(), result: { metrics, artifact_blob: blob.sha256 } as never },
        event: { data: metrics },
      });
      return built.deliveryIds;
    });
    if (!delivered) {
      await eraseBlob(deps, ctx, blob.sha256);
      return staleMeanwhile();
    }
    await enqueueDeliveries(deps.webhooks, tenantId, delivered);
  } catch (error) {
    const message = (error as Error).message;
    // What the inputs make impossible fails for good; anything else (storage, database) retries.
    const permanent = error instanceof UnrecoverableError || error instanceof ChatTemplateError;
    if (permanent || isLastAttempt(queueJob)) {
      await fail(message);
      throw new UnrecoverableError(message);
    }
    await event('message', `attempt failed (${message}); retrying`);
    throw error;
  }
}
