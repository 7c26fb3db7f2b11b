import type { TenantContext } from '@tessera/db';
import { createJob, moveCompositions } from '@tessera/domain';
import { TRAIN_JOB_OPTIONS, type CacheEviction, type ComposeJobData, type EvictionReport } from '@tessera/queue';
import { enqueueDeliveries } from '@tessera/webhooks';
import type { Queue } from 'bullmq';
import { eraseBlob } from './erase-blob.js';
import type { JobDeps } from './job-deps.js';

/** What a deletion needs beyond the other jobs: the compose queue (rebuilds) and the workers' caches. */
export interface CascadeDeps extends JobDeps {
  compose: Queue<ComposeJobData>;
  /** Asks every worker to drop the stale weights from memory; resolves when all answered or a timeout passed. */
  evictCaches: (eviction: CacheEviction) => Promise<EvictionReport>;
}

/**
 * Erases what was computed from the deleted documents besides the stale versions' weights:
 * the artifacts of the compositions built on them (merged weights, learned gates) and every
 * checkpoint (LoRA weights and optimizer state) of the jobs that trained those versions.
 */
export async function eraseDerivedArtifacts(
  deps: JobDeps,
  ctx: TenantContext,
  versionIds: string[],
  compositionIds: string[],
) {
  const { database } = deps;
  const { artifacts, jobIds } = await database.withTenant(ctx, async (tx) => {
    const compositions = await tx.composition.findMany({
      where: { id: { in: compositionIds }, artifactBlob: { not: null } },
      select: { id: true, artifactBlob: true },
    });
    await tx.composition.updateMany({
      where: { id: { in: compositions.map((c) => c.id) } },
      data: { artifactBlob: null },
    });
    const trainedBy = await tx.adapterVersion.findMany({
      where: { id: { in: versionIds } },
      select: { trainingJobId: true },
    });
    const jobs = await tx.job.findMany({
      where: {
        OR: [
          { id: { in: trainedBy.flatMap((v) => (v.trainingJobId ? [v.trainingJobId] : [])) } },
          { adapterVersionId: { in: versionIds } },
        ],
      },
      select: { id: true },
    });
    return { artifacts: [...new Set(compositions.map((c) => c.artifactBlob!))], jobIds: jobs.map((j) => j.id) };
  });
  let erased = 0;
  for (const blob of artifacts) if (await eraseBlob(deps, ctx, blob)) erased++;
  const checkpoints = await eraseCheckpoints(deps, ctx, jobIds);
  return {
    artifactBlobs: artifacts,
    compositions: artifacts.length,
    checkpoints: checkpoints.rows,
    blobs: erased + checkpoints.blobs,
  };
}

/** Every checkpoint of these jobs: the rows, then the bytes nothing else points to. */
export async function eraseCheckpoints(deps: JobDeps, ctx: TenantContext, jobIds: string[]) {
  const blobs = await deps.database.withTenant(ctx, async (tx) => {
    const rows = await tx.checkpoint.findMany({ where: { jobId: { in: jobIds } }, select: { blob: true } });
    await tx.checkpoint.deleteMany({ where: { jobId: { in: jobIds } } });
    return rows.map((r) => r.blob);
  });
  let erased = 0;
  for (const blob of new Set(blobs)) if (await eraseBlob(deps, ctx, blob)) erased++;
  return { rows: blobs.length, blobs: erased };
}

/** One line of the compositions_rebuilt step. */
export interface RebuiltComposition {
  id: string;
  outcome: 'ready' | 'rebuilding' | 'cannot_rebuild' | 'unchanged';
  job_id?: string;
  reason?: string;
}

/**
 * Brings back the compositions a deletion made stale, over the retrained versions:
 * - a knowledge base follows each partition's latest ready version, so it is ready again as
 *   soon as its partitions are retrained (their new centroids are the new routing keys);
 * - a merge or a learned gate is repinned from each stale member to its replacement and built
 *   again by a compose job with the same method, weights and params (which fires
 *   `composition.ready`); a member with no replacement (every document it learned from is
 *   gone) leaves the composition failed, with the reason.
 * Idempotent: a composition already rebuilding only has its compose job enqueued again.
 */
export async function rebuildCompositions(
  deps: CascadeDeps,
  ctx: TenantContext,
  deletionId: string,
  compositionIds: string[],
  replacements: ReadonlyMap<string, string | null>,
): Promise<RebuiltComposition[]> {
  const { database, compose } = deps;
  const tenantId = ctx.tenantId;
  const rebuilt: RebuiltComposition[] = [];
  for (const id of compositionIds) {
    // Each composition's deliveries go out after its own commit: a later failure cannot strand them.
    const deliveries: string[] = [];
    const outcome = await database.withTenant(ctx, async (tx): Promise<RebuiltComposition> => {
      const composition = await tx.composition.findFirstOrThrow({
        where: { id },
        include: { members: true, jobs: { where: { kind: 'compose' }, orderBy: { id: 'desc' }, take: 1 } },
      });
      if (composition.status === 'queued' && composition.jobs[0]?.status === 'queued')
        return { id, outcome: 'rebuilding', job_id: composition.jobs[0].id };
      if (composition.status !== 'stale') return { id, outcome: 'unchanged' };
      if (composition.method === 'centroid') {
        const moved = await moveCompositions(tx, tenantId, [id], 'ready', {
          from: ['stale'],
          webhooks: [
            {
              type: 'composition.ready',
              data: {
                id,
                name: composition.name,
                version: composition.version,
                method: composition.method,
                deletion_id: deletionId,
              },
            },
          ],
        });
        deliveries.push(...moved!.deliveryIds);
        return { id, outcome: 'ready' };
      }
      const gone = composition.members.filter(
        (m) => m.adapterVersionId && replacements.has(m.adapterVersionId) && !replacements.get(m.adapterVersionId),
      );
      if (gone.length) {
        const reason = `member adapter ${gone.map((m) => m.adapterId).join(', ')} has no documents left to retrain on`;
        await moveCompositions(tx, tenantId, [id], 'failed');
        return { id, outcome: 'cannot_rebuild', reason };
      }
      const repinned = composition.members.flatMap((m) =>
        m.adapterVersionId && replacements.get(m.adapterVersionId) ? [replacements.get(m.adapterVersionId)!] : [],
      );
      const notReady = await tx.adapterVersion.count({ where: { id: { in: repinned }, status: { not: 'ready' } } });
      // A later deletion reached a replacement: that deletion rebuilds the composition over its own.
      if (notReady > 0)
        return { id, outcome: 'unchanged', reason: 'a later deletion reached a member; it rebuilds the composition' };
      for (const member of composition.members) {
        const replacement = member.adapterVersionId ? replacements.get(member.adapterVersionId) : undefined;
        if (replacement)
          await tx.compositionMember.update({
            where: { compositionId_adapterId: { compositionId: id, adapterId: member.adapterId } },
            data: { adapterVersionId: replacement },
          });
      }
      const previous = composition.jobs[0];
      const params = (composition.params ?? {}) as { dataset_id?: string };
      // A learned gate learns again from the documents it learned from, less the deleted ones.
      const learnedFrom = (previous?.params as { document_ids?: string[] } | null)?.document_ids;
      const stillActive = learnedFrom
        ? (
            await tx.document.findMany({ where: { id: { in: learnedFrom }, status: 'active' }, select: { id: true } })
          ).map((d) => d.id)
        : undefined;
      const job = await createJob(
        tx,
        {
          tenantId,
          kind: 'compose',
          compositionId: id,
          baseModelId: previous?.baseModelId ?? null,
          datasetId: params.dataset_id ?? null,
          params: (stillActive ? { ...params, document_ids: stillActive } : params) as never,
        },
        { message: `queued: rebuilt after deletion ${deletionId}` },
      );
      await moveCompositions(tx, tenantId, [id], 'queued');
      return { id, outcome: 'rebuilding', job_id: job.id };
    });
    // The job id is BullMQ's too: enqueueing again after a crash cannot make a second build.
    if (outcome.outcome === 'rebuilding')
      await compose.add(
        'compose',
        { jobId: outcome.job_id!, tenantId, compositionId: id },
        { jobId: outcome.job_id!, ...TRAIN_JOB_OPTIONS },
      );
    await enqueueDeliveries(deps.webhooks, tenantId, deliveries);
    rebuilt.push(outcome);
  }
  return rebuilt;
}
