import { newId, storedHyperparameters, type DeletionProof } from '@tessera/contracts';
import { Prisma, type TenantContext } from '@tessera/db';
import {
  AdapterEvaluator,
  ChatTemplateError,
  decodeCentroid,
  DecoderSession,
  encodeCentroid,
  readPeftAdapter,
  routeByCentroid,
  train,
  type LoraAdapter,
  type TrainingModel,
  type TrainingRecord,
  type ExecutionProvider,
} from '@tessera/engine';
import type { TrainJobData } from '@tessera/queue';
import { moveAdapterVersions, moveDeletion, moveDocuments, moveJob } from '@tessera/domain';
import { enqueueDeliveries } from '@tessera/webhooks';
import { UnrecoverableError, type Job as QueueJob } from 'bullmq';
import { datasetLines, datasetRecords, engineHyperparameters } from './fine-tune-job.js';
import { deletionVerdict } from './deletion-verdict.js';
import { eraseBlob } from './erase-blob.js';
import { eraseDerivedArtifacts, rebuildCompositions, type CascadeDeps } from './deletion-cascade.js';
import { isLastAttempt, staleByDeletion } from './job-deps.js';

export type DeletionDeps = CascadeDeps;

type StepName =
  | 'audited_before'
  | 'weights_erased'
  | 'caches_evicted'
  | 'retrained'
  | 'compositions_rebuilt'
  | 'audited_after'
  | 'data_erased'
  | 'completed';
interface Step {
  name: StepName | 'marked_stale';
  at: string;
  detail?: Record<string, unknown>;
}

/** How many never-trained documents the audit scores as the baseline of unseen text. */
const HELD_OUT_SAMPLE = 32;
/**
 * Rows of 256 tokens the audit scores per document (the first 16k tokens): a long document
 * costs every deletion of the tenant no more than a short one, and deleted and unseen text
 * are scored alike.
 */
const AUDIT_ROWS_PER_DOCUMENT = 64;

/**
 * A deletion request after the gateway marked its versions and the compositions built on
 * them stale: audit the deleted text under the tenant's adapters as they were; erase the
 * stale weights, those compositions' artifacts and the trainings' checkpoints; have every
 * worker drop them from memory; retrain each affected partition from the same seed on its
 * documents less the deleted ones; rebuild the compositions over the retrained versions;
 * audit again; erase the text from the dataset, and fire `deletion.completed` with the proof.
 * Each step is recorded when done, so a retried job (a worker crash) resumes after the last one.
 */
export async function runDeletion(queueJob: QueueJob<TrainJobData>, deps: DeletionDeps): Promise<void> {
  const { jobId, tenantId } = queueJob.data;
  const ctx: TenantContext = { tenantId };
  const { database } = deps;
  const job = await database.withTenant(ctx, (tx) => tx.job.findFirst({ where: { id: jobId, tenantId } }));
  if (!job?.deletionRequestId) throw new UnrecoverableError(`job ${jobId} is not a deletion`);
  const deletionId = job.deletionRequestId;
  const request = await database.withTenant(ctx, (tx) =>
    tx.deletionRequest.findFirstOrThrow({
      where: { id: deletionId },
      include: {
        documents: { include: { document: true } },
        affectedVersions: { include: { adapterVersion: { include: { adapter: true } } } },
      },
    }),
  );
  if (request.status === 'completed' || request.status === 'failed') return;
  // Only this job writes the steps: the list it wrote last is the one stored.
  let steps = request.steps as unknown as Step[];
  const done = (name: StepName) => steps.some((s) => s.name === name);
  const record = async (name: StepName, detail: Record<string, unknown>) => {
    const next = [...steps, { name, at: new Date().toISOString(), detail }];
    await database.withTenant(ctx, (tx) =>
      tx.deletionRequest.update({ where: { id: deletionId }, data: { steps: next as never } }),
    );
    steps = next;
  };
  await database.withTenant(ctx, (tx) =>
    moveJob(tx, tenantId, jobId, 'running', {
      data: { attempts: { increment: 1 }, startedAt: job.startedAt ?? new Date() },
      event: { data: { attempt: job.attempts + 1 } },
    }),
  );

  try {
    const affected = request.affectedVersions.map((a) => a.adapterVersion);
    // Named by the gateway when it marked them stale, in the same transaction.
    const compositionIds =
      (steps.find((s) => s.name === 'marked_stale')?.detail?.compositions as string[] | undefined) ?? [];
    const deletedIds = new Set(request.documents.map((d) => d.documentId));
    const baseModelId =
      affected[0]?.adapter.baseModelId ??
      (await database.withTenant(ctx, (tx) => tx.baseModel.findFirstOrThrow({ where: { tenantId: null } }))).id;
    // What both audits score, read once, and only when an audit is still to run.
    let inputs: Promise<{ model: TrainingModel; texts: TrainingRecord[][]; heldOut: TrainingRecord[][] }> | undefined;
    const auditInputs = () =>
      (inputs ??= (async () => ({
        model: await deps.models.load(
          await database.withTenant(ctx, (tx) => tx.baseModel.findFirstOrThrow({ where: { id: baseModelId } })),
        ),
        texts: await documentRecords(deps, ctx, [...deletedIds]),
        heldOut: await heldOutRecords(deps, ctx),
      }))());
    // Each audit holds its sessions only while it scores: the retrain between them needs the memory.
    const audit = async (adapters: ScoredAdapter[]) => {
      const { model, texts, heldOut } = await auditInputs();
      const options = { threads: deps.threads, executionProvider: deps.executionProvider };
      const auditor = new Auditor(model, await DecoderSession.load(model.config, model.weights, options), options);
      try {
        return {
          deleted_loss: await auditor.meanLoss(texts, adapters),
          held_out: figures(await auditor.losses(heldOut, adapters)),
          candidates: adapters.length,
        };
      } finally {
        // A failure to free memory must not replace the audit's own outcome.
        await auditor
          .release()
          .catch((error: Error) =>
            deps.log(`deletion ${deletionId}: releasing the audit sessions failed: ${error.message}`),
          );
      }
    };

    if (!done('audited_before')) {
      // The tenant's adapters as they were: every live version plus the stale ones, weights still there.
      const candidates = [...(await liveVersions(deps, ctx, baseModelId)), ...affected.filter((v) => v.weightsBlob)];
      const adapters = await loadVersions(deps, ctx, candidates);
      // A retried job finds the deletion past this status already.
      await database.withTenant(ctx, (tx) => moveDeletion(tx, tenantId, deletionId, 'retraining', { ifAllowed: true }));
      await record('audited_before', await audit(adapters));
    }
    if (!done('weights_erased')) {
      let erased = 0;
      for (const version of affected) {
        if (!version.weightsBlob) continue;
        await database.withTenant(ctx, (tx) =>
          // The centroid and the metrics were computed from the deleted text too.
          tx.adapterVersion.update({
            where: { id: version.id },
            data: { weightsBlob: null, centroid: null, metrics: Prisma.DbNull, deletedAt: new Date() },
          }),
        );
        if (await eraseBlob(deps, ctx, version.weightsBlob)) erased++;
      }
      // Every version that ever read the documents, archived ones too (a cancelled fine-tune keeps its checkpoints).
      const trained = await database.withTenant(ctx, (tx) =>
        tx.adapterVersionDocument.findMany({
          where: { documentId: { in: [...deletedIds] } },
          select: { adapterVersionId: true },
        }),
      );
      const derived = await eraseDerivedArtifacts(
        deps,
        ctx,
        [...new Set([...affected.map((v) => v.id), ...trained.map((t) => t.adapterVersionId)])],
        compositionIds,
      );
      await record('weights_erased', {
        versions: affected.length,
        blobs: erased + derived.blobs,
        composition_artifacts: derived.compositions,
        checkpoints: derived.checkpoints,
        artifact_blobs: derived.artifactBlobs,
      });
    }
    if (!done('caches_evicted')) {
      const artifactBlobs =
        (steps.find((s) => s.name === 'weights_erased')?.detail?.artifact_blobs as string[] | undefined) ?? [];
      const report = await deps.evictCaches({
        id: deletionId,
        tenantId,
        versionIds: affected.map((v) => v.id),
        compositionIds,
        artifactBlobs,
      });
      deps.log(
        `deletion ${deletionId}: ${report.acknowledged} of ${report.workers} workers evicted the stale weights${report.timed_out ? ' (timed out)' : ''}`,
      );
      await record('caches_evicted', {
        workers: report.workers,
        acknowledged: report.acknowledged,
        timed_out: report.timed_out,
        ...report.evicted,
      });
    }
    const retrained: DeletionProof['retrained_versions'] = [];
    const replacements = new Map<string, string | null>();
    for (const link of request.affectedVersions) {
      const started = performance.now();
      const replacement = await retrainVersion(
        deps,
        ctx,
        jobId,
        deletionId,
        link.adapterVersion,
        link.replacementVersionId,
      );
      replacements.set(link.adapterVersionId, replacement?.id ?? null);
      retrained.push({
        adapter_id: link.adapterVersion.adapterId,
        old_version: link.adapterVersion.version,
        new_version: replacement?.version ?? null,
        seconds: (performance.now() - started) / 1000,
      });
    }
    if (!done('retrained')) await record('retrained', { versions: retrained });
    if (!done('compositions_rebuilt'))
      await record('compositions_rebuilt', {
        compositions: await rebuildCompositions(deps, ctx, deletionId, compositionIds, replacements),
      });
    await database.withTenant(ctx, (tx) => moveDeletion(tx, tenantId, deletionId, 'auditing', { ifAllowed: true }));

    if (!done('audited_after')) {
      const adapters = await loadVersions(deps, ctx, await liveVersions(deps, ctx, baseModelId));
      await record('audited_after', await audit(adapters));
    }
    if (!done('data_erased')) await record('data_erased', await eraseDocuments(deps, ctx, [...deletedIds]));

    const before = steps.find((s) => s.name === 'audited_before')!.detail as { deleted_loss: number };
    const after = steps.find((s) => s.name === 'audited_after')!.detail as {
      deleted_loss: number;
      held_out: ReturnType<typeof figures>;
    };
    const retrainedStep = steps.find((s) => s.name === 'retrained')!.detail as {
      versions: DeletionProof['retrained_versions'];
    };
    const evicted = steps.find((s) => s.name === 'caches_evicted')!.detail as DeletionProof['caches_evicted'];
    const held = after.held_out;
    const proof: DeletionProof = {
      deleted_loss_before: before.deleted_loss,
      deleted_loss_after: after.deleted_loss,
      held_out: held,
      ...deletionVerdict(before.deleted_loss, after.deleted_loss, held),
      retrained_versions: retrainedStep.versions,
      caches_evicted: { workers: evicted.workers, acknowledged: evicted.acknowledged, timed_out: evicted.timed_out },
    };
    const deliveryIds = await database.withTenant(ctx, async (tx) => {
      const completed = await moveDeletion(tx, tenantId, deletionId, 'completed', {
        data: {
          proof: proof as never,
          completedAt: new Date(),
          steps: [...steps, { name: 'completed', at: new Date().toISOString() }] as never,
        },
        webhooks: [{ type: 'deletion.completed', data: { id: deletionId, proof } }],
      });
      await moveJob(tx, tenantId, jobId, 'succeeded', {
        data: { progress: 1, finishedAt: new Date(), result: proof as never },
        event: { data: { verdict: proof.verdict } },
      });
      return completed!.deliveryIds;
    });
    await enqueueDeliveries(deps.webhooks, tenantId, deliveryIds);
  } catch (error) {
    const message = (error as Error).message;
    // A chat template failing on the retained data (ChatTemplateError) fails every retry too.
    if (error instanceof UnrecoverableError || error instanceof ChatTemplateError || isLastAttempt(queueJob)) {
      // The stale versions stay out of routing: nothing deleted comes back.
      await database.withTenant(ctx, async (tx) => {
        await moveDeletion(tx, tenantId, deletionId, 'failed', { data: { error: { message } } });
        await moveJob(tx, tenantId, jobId, 'failed', {
          data: { finishedAt: new Date(), error: { message } },
          event: { data: { error: message } },
        });
      });
      throw new UnrecoverableError(message);
    }
    throw error;
  }
}

/**
 * A stale version's replacement: the same adapter, seed and hyperparameters, trained on its
 * documents that are still active, so it equals a training that never saw the deleted ones.
 * Made once per deletion (a retried job reuses it); a replacement that itself turned stale
 * (another deletion reached it while it trained) never goes live.
 */
async function retrainVersion(
  deps: DeletionDeps,
  ctx: TenantContext,
  jobId: string,
  deletionId: string,
  old: {
    id: string;
    adapterId: string;
    version: number;
    rank: number;
    alpha: number;
    targetModules: string[];
    seed: number;
    partitionKey: string | null;
    trainingJobId: string | null;
  },
  existing: string | null,
) {
  const { database } = deps;
  const tenantId = ctx.tenantId;
  // A version still training when the deletion came has no trainingJobId yet: its fine-tune is the recipe.
  const recipe = await database.withTenant(ctx, (tx) =>
    tx.job.findFirst({
      where: old.trainingJobId ? { id: old.trainingJobId } : { adapterVersionId: old.id, kind: 'fine_tune' },
      orderBy: { id: 'asc' },
    }),
  );
  if (!recipe?.datasetId) return null; // An uploaded adapter: nothing to retrain it from.
  const keep = await database.withTenant(ctx, async (tx) =>
    (
      await tx.adapterVersionDocument.findMany({
        where: { adapterVersionId: old.id, document: { status: 'active' } },
        select: { documentId: true },
        orderBy: { documentId: 'asc' },
      })
    ).map((d) => d.documentId),
  );
  if (keep.length === 0) return null; // Every document of the partition is gone: so is the partition.
  let version = existing
    ? await database.withTenant(ctx, (tx) => tx.adapterVersion.findFirst({ where: { id: existing } }))
    : null;
  if (version?.status === 'ready') return version;
  // A later deletion reached this replacement while it trained: that deletion retrains it.
  if (version?.status === 'stale') return null;
  // Another deletion's retrain may already have made exactly this version (same documents, same seed: same bytes).
  const same = await sameDocumentsVersion(deps, ctx, old.adapterId, old.version, keep);
  if (same && !version) return same;
  if (!version) {
    version = await database.withTenant(ctx, async (tx) => {
      const last = await tx.adapterVersion.findFirst({
        where: { adapterId: old.adapterId },
        orderBy: { version: 'desc' },
      });
      const made = await tx.adapterVersion.create({
        data: {
          id: newId('adv'),
          tenantId,
          adapterId: old.adapterId,
          version: (last?.version ?? 0) + 1,
          status: 'training',
          rank: old.rank,
          alpha: old.alpha,
          targetModules: old.targetModules,
          seed: old.seed,
          partitionKey: old.partitionKey,
          trainingJobId: recipe.id,
        },
      });
      await tx.adapterVersionDocument.createMany({
        data: keep.map((documentId) => ({ tenantId, adapterVersionId: made.id, documentId })),
      });
      await tx.deletionAffectedVersion.update({
        where: { deletionRequestId_adapterVersionId: { deletionRequestId: deletionId, adapterVersionId: old.id } },
        data: { replacementVersionId: made.id, retrainJobId: jobId },
      });
      return made;
    });
  }
  const params = recipe.params as { hyperparameters: unknown; validation_split: number };
  const hyperparameters = engineHyperparameters(storedHyperparameters(params.hyperparameters), params.validation_split);
  const [dataset, baseModel] = await database.withTenant(ctx, (tx) =>
    Promise.all([
      tx.dataset.findFirstOrThrow({ where: { id: recipe.datasetId! } }),
      tx.baseModel.findFirstOrThrow({ where: { id: recipe.baseModelId! } }),
    ]),
  );
  const model = await deps.models.load(baseModel);
  const active = await database.withTenant(ctx, (tx) => tx.document.findMany({ where: { id: { in: keep } } }));
  const { records, documentIds } = datasetRecords(
    new TextDecoder().decode(await deps.blobs.forTenant(tenantId).get(dataset.blob!)),
    new Map(active.map((d) => [d.externalId, d.id])),
  );
  const result = await train({
    model,
    data: records,
    hyperparameters,
    threads: deps.threads,
    executionProvider: deps.executionProvider,
  });
  const weights = await deps.blobs.forTenant(tenantId).put(result.peft.weights);
  const live = await database.withTenant(ctx, async (tx) => {
    // A deletion that committed while this trained may not have seen this version: its documents say.
    if (await staleByDeletion(tx, tenantId, version!.id, documentIds)) return false;
    // Two deletions' retrains of one partition can race to the same documents: one version goes live.
    const twin = trainedOnExactly(
      await tx.adapterVersion.findMany({
        where: { adapterId: old.adapterId, status: 'ready', id: { not: version!.id } },
        include: { documents: { select: { documentId: true } } },
      }),
      documentIds,
    );
    if (twin) {
      await moveAdapterVersions(tx, tenantId, [version!.id], 'archived');
      return false;
    }
    // Its adapter may have been deleted meanwhile: then the replacement never goes live.
    const ready = await moveAdapterVersions(tx, tenantId, [version!.id], 'ready', {
      data: {
        weightsBlob: weights.sha256,
        centroid: encodeCentroid(result.centroid),
        readyAt: new Date(),
        metrics: {
          steps: result.metrics.steps,
          train_loss: result.metrics.trainLoss,
          validation_loss: result.metrics.validationLoss,
        } as never,
      },
      ifAllowed: true,
    });
    if (!ready) return false;
    await tx.adapterVersionDocument.deleteMany({
      where: { adapterVersionId: version!.id, documentId: { notIn: documentIds } },
    });
    return true;
  });
  if (!live) {
    await eraseBlob(deps, ctx, weights.sha256);
    return null;
  }
  deps.log(
    `deletion ${deletionId}: adapter ${old.adapterId} v${old.version} → v${version.version} (${documentIds.length} documents)`,
  );
  return { ...version, status: 'ready' as const };
}

/** A ready version of the adapter, newer than `after`, trained on exactly `documents`. */
async function sameDocumentsVersion(
  deps: DeletionDeps,
  ctx: TenantContext,
  adapterId: string,
  after: number,
  documents: string[],
) {
  const newer = await deps.database.withTenant(ctx, (tx) =>
    tx.adapterVersion.findMany({
      where: { adapterId, version: { gt: after }, status: 'ready' },
      include: { documents: { select: { documentId: true } } },
      orderBy: { version: 'desc' },
    }),
  );
  return trainedOnExactly(newer, documents);
}

/** The first of `versions` whose recorded documents are exactly `documents`. */
function trainedOnExactly<V extends { documents: { documentId: string }[] }>(
  versions: V[],
  documents: string[],
): V | null {
  const wanted = [...documents].sort().join();
  return (
    versions.find(
      (v) =>
        v.documents
          .map((d) => d.documentId)
          .sort()
          .join() === wanted,
    ) ?? null
  );
}

/** Every version the tenant serves on this base model: ready, its adapter active. */
async function liveVersions(deps: DeletionDeps, ctx: TenantContext, baseModelId: string) {
  return deps.database.withTenant(ctx, (tx) =>
    tx.adapterVersion.findMany({
      where: {
        tenantId: ctx.tenantId,
        status: 'ready',
        weightsBlob: { not: null },
        adapter: { status: 'active', baseModelId },
      },
      orderBy: { id: 'asc' },
    }),
  );
}

interface ScoredAdapter {
  id: string;
  adapter: LoraAdapter;
  centroid: Float32Array | null;
}

async function loadVersions(
  deps: DeletionDeps,
  ctx: TenantContext,
  versions: { id: string; rank: number; alpha: number; weightsBlob: string | null; centroid: Uint8Array | null }[],
): Promise<ScoredAdapter[]> {
  const store = deps.blobs.forTenant(ctx.tenantId);
  return Promise.all(
    versions.map(async (v) => ({
      id: v.id,
      adapter: readPeftAdapter({
        config: { peft_type: 'LORA', r: v.rank, lora_alpha: v.alpha },
        weights: await store.get(v.weightsBlob!),
      }),
      centroid: v.centroid ? decodeCentroid(v.centroid) : null,
    })),
  );
}

/**
 * Scores text as the tenant's knowledge base serves it: each document routed to its top
 * centroid among the adapters (auto mode, request level), then its mean loss per token.
 */
class Auditor {
  /** One evaluator per adapter shape (rank, modules), reused for every document and adapter. */
  private readonly evaluators: AdapterEvaluator[] = [];

  constructor(
    private readonly model: TrainingModel,
    private readonly base: DecoderSession,
    private readonly options: { threads: number; executionProvider: ExecutionProvider },
  ) {}

  async release(): Promise<void> {
    await Promise.all([...this.evaluators.splice(0).map((e) => e.release()), this.base.release()]);
  }

  private async evaluatorFor(adapter: LoraAdapter | null): Promise<AdapterEvaluator> {
    const found = this.evaluators.find((e) => e.fits(adapter));
    if (found) return found;
    const created = await AdapterEvaluator.create(this.model, adapter, {
      ...this.options,
      maxSequenceLength: Math.min(256, this.model.config.maxPositions),
      maxRows: AUDIT_ROWS_PER_DOCUMENT,
    });
    this.evaluators.push(created);
    return created;
  }

  async losses(documents: TrainingRecord[][], adapters: ScoredAdapter[]): Promise<number[]> {
    const out: number[] = [];
    for (const records of documents) out.push(await this.loss(records, adapters));
    return out;
  }

  async meanLoss(documents: TrainingRecord[][], adapters: ScoredAdapter[]): Promise<number> {
    const losses = await this.losses(documents, adapters);
    return losses.reduce((a, b) => a + b, 0) / Math.max(1, losses.length);
  }

  private async loss(records: TrainingRecord[], adapters: ScoredAdapter[]): Promise<number> {
    const keys = adapters.filter((a) => a.centroid).map((a) => ({ id: a.id, centroid: a.centroid! }));
    const text = records.map((r) => ('text' in r ? r.text : JSON.stringify(r))).join('\n');
    const tokens = this.model.tokenizer.encode(text).slice(0, this.model.config.maxPositions);
    const { pooledHidden } = await this.base.forward({
      ids: [tokens],
      positions: [tokens.map((_, i) => i)],
      attentionMask: [tokens.map(() => 1)],
    });
    const chosen = keys.length ? routeByCentroid(pooledHidden, keys)[0]! : null;
    const adapter = chosen ? adapters.find((a) => a.id === chosen.id)!.adapter : null;
    return (await (await this.evaluatorFor(adapter)).evaluate(adapter, records)).loss;
  }
}

function figures(losses: number[]) {
  if (losses.length === 0) return null;
  const mean = losses.reduce((a, b) => a + b, 0) / losses.length;
  const std = Math.sqrt(losses.reduce((a, b) => a + (b - mean) ** 2, 0) / losses.length);
  // reduce, not Math.min(...losses): a long list spread as arguments overflows the stack.
  const min = losses.reduce((a, b) => Math.min(a, b));
  const max = losses.reduce((a, b) => Math.max(a, b));
  return { mean, min, max, std, count: losses.length };
}

/** Each document's records, read from its dataset's content. */
async function documentRecords(
  deps: DeletionDeps,
  ctx: TenantContext,
  documentIds: string[],
): Promise<TrainingRecord[][]> {
  const documents = await deps.database.withTenant(ctx, (tx) =>
    tx.document.findMany({ where: { id: { in: documentIds } }, include: { dataset: true }, orderBy: { id: 'asc' } }),
  );
  // Each dataset's content is read and parsed once, however many of its documents are asked for.
  const parsed = new Map<string, Promise<Map<string, TrainingRecord[]>>>();
  const recordsOf = (blob: string) => {
    if (!parsed.has(blob))
      parsed.set(
        blob,
        deps.blobs
          .forTenant(ctx.tenantId)
          .get(blob)
          .then((bytes) => recordsByDocument(new TextDecoder().decode(bytes))),
      );
    return parsed.get(blob)!;
  };
  const out: TrainingRecord[][] = [];
  for (const doc of documents) {
    if (!doc.dataset.blob) continue;
    const records = (await recordsOf(doc.dataset.blob)).get(doc.externalId);
    if (records?.length) out.push(records);
  }
  return out;
}

/** A dataset's records grouped by the external id of their document, each group in file order. */
function recordsByDocument(jsonl: string): Map<string, TrainingRecord[]> {
  const byDocument = new Map<string, TrainingRecord[]>();
  for (const { externalId, record } of datasetLines(jsonl)) {
    if (!byDocument.has(externalId)) byDocument.set(externalId, []);
    byDocument.get(externalId)!.push(record);
  }
  return byDocument;
}

/** Documents of the tenant that no adapter version ever trained: what never-seen text scores. */
async function heldOutRecords(deps: DeletionDeps, ctx: TenantContext): Promise<TrainingRecord[][]> {
  const unseen = await deps.database.withTenant(ctx, (tx) =>
    tx.document.findMany({
      where: { tenantId: ctx.tenantId, status: 'active', trainedVersions: { none: {} } },
      orderBy: { id: 'asc' },
      take: HELD_OUT_SAMPLE,
      select: { id: true },
    }),
  );
  return documentRecords(
    deps,
    ctx,
    unseen.map((d) => d.id),
  );
}

/**
 * The deleted documents' lines leave their datasets: each dataset's content is rewritten
 * without them and the old content erased; the documents are marked deleted and lose their hash.
 */
async function eraseDocuments(deps: DeletionDeps, ctx: TenantContext, documentIds: string[]) {
  const { database } = deps;
  const store = deps.blobs.forTenant(ctx.tenantId);
  const documents = await database.withTenant(ctx, (tx) =>
    tx.document.findMany({ where: { id: { in: documentIds } }, include: { dataset: true } }),
  );
  let lines = 0;
  for (const datasetId of new Set(documents.map((d) => d.datasetId))) {
    const dataset = documents.find((d) => d.datasetId === datasetId)!.dataset;
    const gone = new Set(documents.filter((d) => d.datasetId === datasetId).map((d) => d.externalId));
    if (!dataset.blob) continue;
    const content = new TextDecoder().decode(await store.get(dataset.blob));
    // Line numbers name documents without a document_id (`line-<n>`): keep them by blanking, not dropping, lines.
    const blanked = new Set(
      [...datasetLines(content)].filter((line) => gone.has(line.externalId)).map((line) => line.index),
    );
    lines += blanked.size;
    const kept = content.split('\n').map((line, index) => (blanked.has(index) ? '' : line));
    const rewritten = await store.put(new TextEncoder().encode(kept.join('\n')));
    await database.withTenant(ctx, (tx) =>
      tx.dataset.update({ where: { id: datasetId }, data: { blob: rewritten.sha256, bytes: rewritten.size } }),
    );
    await eraseBlob(deps, ctx, dataset.blob);
  }
  // The content hash goes too: it would confirm a guess of the text. A retried job finds them deleted already.
  await database.withTenant(ctx, (tx) =>
    moveDocuments(tx, ctx.tenantId, documentIds, 'deleted', {
      data: { deletedAt: new Date(), contentHash: null },
      ifAllowed: true,
    }),
  );
  return { documents: documentIds.length, lines };
}
