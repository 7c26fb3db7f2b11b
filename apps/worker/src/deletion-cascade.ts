import { newId } from '@tessera/contracts';
import type { TenantContext } from '@tessera/db';
import { TRAIN_JOB_OPTIONS, type CacheEviction, type ComposeJobData, type EvictionReport } from '@tessera/queue';
import { enqueueDeliveries, recordWebhookEvent } from '@tessera/webhooks';
import type { Queue } from 'bullmq';
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
 * Blobs are content-addressed: bytes another row still points to stay for it.
 */
export async function eraseDerivedArtifacts(deps: JobDeps, ctx: TenantContext, versionIds: string[], compositionIds: string[]) {
  const { database } = deps;
  const store = deps.blobs.forTenant(ctx.tenantId);
  const { artifacts, checkpoints } = await database.withTenant(ctx, async (tx) => {
    const compositions = await tx.composition.findMany({ where: { id: { in: compositionIds }, artifactBlob: { not: null } }, select: { id: true, artifactBlob: true } });
    await tx.composition.updateMany({ where: { id: { in: compositions.map((c) => c.id) } }, data: { artifactBlob: null } });
    const trainedBy = await tx.adapterVersion.findMany({ where: { id: { in: versionIds } }, select: { trainingJobId: true } });
    const jobIds = [...new Set(trainedBy.flatMap((v) => (v.trainingJobId ? [v.trainingJobId] : [])))];
    const jobs = await tx.job.findMany({ where: { OR: [{ id: { in: jobIds } }, { adapterVersionId: { in: versionIds } }] }, select: { id: true } });
    const checkpoints = await tx.checkpoint.findMany({ where: { jobId: { in: jobs.map((j) => j.id) } }, select: { id: true, blob: true } });
    await tx.checkpoint.deleteMany({ where: { id: { in: checkpoints.map((c) => c.id) } } });
    return { artifacts: compositions.map((c) => c.artifactBlob!), checkpoints: checkpoints.map((c) => c.blob) };
  });
  let erased = 0;
  for (const blob of new Set(artifacts)) {
    const used = await database.withTenant(ctx, (tx) => tx.composition.count({ where: { artifactBlob: blob } }));
    if (used === 0 && (await store.delete(blob))) erased++;
  }
  for (const blob of new Set(checkpoints)) {
    const used = await database.withTenant(ctx, (tx) => tx.checkpoint.count({ where: { blob } }));
    if (used === 0 && (await store.delete(blob))) erased++;
  }
  return { artifactBlobs: [...new Set(artifacts)], compositions: artifacts.length, checkpoints: checkpoints.length, blobs: erased };
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
export async function rebuildCompositions(deps: CascadeDeps, ctx: TenantContext, deletionId: string, compositionIds: string[], replacements: ReadonlyMap<string, string | null>): Promise<RebuiltComposition[]> {
  const { database, compose } = deps;
  const tenantId = ctx.tenantId;
  const rebuilt: RebuiltComposition[] = [];
  const deliveries: string[] = [];
  for (const id of compositionIds) {
    const outcome = await database.withTenant(ctx, async (tx): Promise<RebuiltComposition> => {
      const composition = await tx.composition.findFirstOrThrow({ where: { id }, include: { members: true, jobs: { where: { kind: 'compose' }, orderBy: { id: 'desc' }, take: 1 } } });
      if (composition.status === 'queued' && composition.jobs[0]?.status === 'queued') return { id, outcome: 'rebuilding', job_id: composition.jobs[0].id };
      if (composition.status !== 'stale') return { id, outcome: 'unchanged' };
      if (composition.method === 'centroid') {
        await tx.composition.update({ where: { id }, data: { status: 'ready' } });
        deliveries.push(...(await recordWebhookEvent(tx, tenantId, 'composition.ready', { id, name: composition.name, version: composition.version, method: composition.method, deletion_id: deletionId })).deliveryIds);
        return { id, outcome: 'ready' };
      }
      const gone = composition.members.filter((m) => m.adapterVersionId && replacements.has(m.adapterVersionId) && !replacements.get(m.adapterVersionId));
      if (gone.length) {
        const reason = `member adapter ${gone.map((m) => m.adapterId).join(', ')} has no documents left to retrain on`;
        await tx.composition.update({ where: { id }, data: { status: 'failed' } });
        return { id, outcome: 'cannot_rebuild', reason };
      }
      const repinned = composition.members.flatMap((m) => (m.adapterVersionId && replacements.get(m.adapterVersionId) ? [replacements.get(m.adapterVersionId)!] : []));
      const notReady = await tx.adapterVersion.count({ where: { id: { in: repinned }, status: { not: 'ready' } } });
      // A later deletion reached a replacement: that deletion rebuilds the composition over its own.
      if (notReady > 0) return { id, outcome: 'unchanged', reason: 'a later deletion reached a member; it rebuilds the composition' };
      for (const member of composition.members) {
        const replacement = member.adapterVersionId ? replacements.get(member.adapterVersionId) : undefined;
        if (replacement) await tx.compositionMember.update({ where: { compositionId_adapterId: { compositionId: id, adapterId: member.adapterId } }, data: { adapterVersionId: replacement } });
      }
      const previous = composition.jobs[0];
      const params = (composition.params ?? {}) as { dataset_id?: string };
      const job = await tx.job.create({
        data: { id: newId('job'), tenantId, kind: 'compose', compositionId: id, baseModelId: previous?.baseModelId ?? null, datasetId: params.dataset_id ?? null, params: composition.params as never },
      });
      await tx.jobEvent.create({ data: { id: newId('jev'), tenantId, jobId: job.id, type: 'status', message: `queued: rebuilt after deletion ${deletionId}` } });
      await tx.composition.update({ where: { id }, data: { status: 'queued' } });
      return { id, outcome: 'rebuilding', job_id: job.id };
    });
    // The job id is BullMQ's too: enqueueing again after a crash cannot make a second build.
    if (outcome.outcome === 'rebuilding') await compose.add('compose', { jobId: outcome.job_id!, tenantId, compositionId: id }, { jobId: outcome.job_id!, ...TRAIN_JOB_OPTIONS });
    rebuilt.push(outcome);
  }
  await enqueueDeliveries(deps.webhooks, tenantId, deliveries);
  return rebuilt;
}
