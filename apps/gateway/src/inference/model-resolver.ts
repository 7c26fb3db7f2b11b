import type { Routing, RoutingTrace } from '@tessera/contracts';
import type { TenantTransaction } from '@tessera/db';
import type { BaseModelModel } from '@tessera/db';
import type { InferAdapter, InferJobData } from '@tessera/queue';
import { mayUseGroup, visible } from '../common/access-rule.js';
import type { Caller } from '../common/caller.js';
import { ProblemException } from '../common/problem.exception.js';

/** What a request runs on once `model` and `routing` are resolved against what the caller may use. */
export interface ResolvedRouting {
  baseModel: BaseModelModel;
  mode: InferJobData['mode'];
  router: InferJobData['router'];
  adapters: InferAdapter[];
  topK?: number;
  composition?: NonNullable<InferJobData['composition']>;
}

/** Most adapters one request routes over per token (each is a slot the request pins). */
const MAX_TOKEN_CANDIDATES = 16;

/**
 * Adapters the caller may use: the tenant's active ones whose group (if any) is one of the
 * caller's. Everything else is treated as if it did not exist, so naming a forbidden adapter
 * is the same 404 as naming an unknown one, and `auto` never sees it.
 */
function usableWhere(caller: Caller) {
  return { ...visible.adapters(caller), status: 'active' as const };
}

/** usableWhere for an adapter already loaded (a composition's member). */
function usableAdapter(caller: Caller, adapter: { status: string; accessGroupId: string | null }): boolean {
  return adapter.status === 'active' && mayUseGroup(caller, adapter.accessGroupId);
}

function parseReference(reference: string): { name: string; version: number | undefined } {
  const match = /^(.+?)(?:@(\d+))?$/.exec(reference)!;
  return { name: match[1]!, version: match[2] ? Number(match[2]) : undefined };
}

/** `name` or `name@version` → the adapter's ready version (the latest when none is named). */
export async function findUsableAdapter(
  tx: TenantTransaction,
  caller: Caller,
  reference: string,
): Promise<InferAdapter & { baseModelId: string }> {
  const { name, version } = parseReference(reference);
  const adapter = await tx.adapter.findFirst({ where: { ...usableWhere(caller), name } });
  if (!adapter) throw new ProblemException('not-found', `No model or adapter named ${reference}`);
  const row = await tx.adapterVersion.findFirst({
    where: { adapterId: adapter.id, status: 'ready', ...(version !== undefined ? { version } : {}) },
    orderBy: { version: 'desc' },
  });
  if (!row)
    throw new ProblemException(
      'not-found',
      version !== undefined
        ? `Adapter ${name} has no ready version ${version}`
        : `Adapter ${name} has no ready version yet`,
    );
  return {
    adapterId: adapter.id,
    versionId: row.id,
    name: adapter.name,
    version: row.version,
    baseModelId: adapter.baseModelId,
  };
}

async function findBase(tx: TenantTransaction, caller: Caller, reference: string): Promise<BaseModelModel | null> {
  const rows = await tx.baseModel.findMany({
    where: {
      OR: [{ id: reference }, { name: reference }],
      AND: [{ OR: [{ tenantId: null }, { tenantId: caller.tenantId }] }],
    },
  });
  return rows.find((r) => r.tenantId) ?? rows[0] ?? null;
}

/**
 * A composition the caller may use: the tenant's, its group one of the caller's (or none),
 * and every member usable too; otherwise null, exactly as if it did not exist.
 */
async function findUsableComposition(tx: TenantTransaction, caller: Caller, reference: string) {
  const { name, version } = parseReference(reference);
  const composition = await tx.composition.findFirst({
    where: {
      ...visible.compositions(caller),
      name,
      status: { not: 'archived' },
      ...(version !== undefined ? { version } : {}),
    },
    orderBy: { version: 'desc' },
    include: { members: { include: { adapter: true, adapterVersion: true }, orderBy: { adapterId: 'asc' } } },
  });
  if (!composition) return null;
  if (composition.status === 'stale') {
    throw new ProblemException(
      'conflict',
      `Composition ${reference} was built on adapter versions that a deletion made stale; it is being rebuilt over the retrained versions`,
    );
  }
  if (composition.method === 'centroid') return knowledgeBase(tx, caller, composition);
  const usable = composition.members.every(
    (m) => usableAdapter(caller, m.adapter) && m.adapterVersion?.status === 'ready',
  );
  if (!usable) return null;
  if (composition.status !== 'ready' || !composition.artifactBlob)
    throw new ProblemException('conflict', `Composition ${reference} is ${composition.status}, not ready yet`);
  const members: InferAdapter[] = composition.members.map((m) => ({
    adapterId: m.adapterId,
    versionId: m.adapterVersionId!,
    name: m.adapter.name,
    version: m.adapterVersion!.version,
    weight: m.weight,
  }));
  return { composition, members, baseModelId: composition.members[0]!.adapter.baseModelId };
}

/**
 * A knowledge base (AdapterSwap): the partitions the caller may see, each at its latest
 * ready version; the others (another group's, stale, retraining) are not candidates at all.
 */
async function knowledgeBase(
  tx: TenantTransaction,
  caller: Caller,
  composition: {
    id: string;
    name: string;
    version: number;
    members: { adapterId: string; adapter: { baseModelId: string } }[];
  },
) {
  const members = await usableAtLatestVersion(tx, caller, { id: { in: composition.members.map((m) => m.adapterId) } });
  return {
    composition: { ...composition, method: 'centroid' as const, artifactBlob: null },
    members,
    baseModelId: composition.members[0]?.adapter.baseModelId ?? null,
  };
}

export async function resolveRouting(
  tx: TenantTransaction,
  caller: Caller,
  model: string,
  routing: Routing | undefined,
): Promise<ResolvedRouting> {
  const base = await findBase(tx, caller, model);
  const named = base
    ? null
    : await findUsableAdapter(tx, caller, model).catch((error: unknown) =>
        error instanceof ProblemException && error.status === 404 ? null : Promise.reject(error),
      );
  const composed = base || named ? null : await findUsableComposition(tx, caller, model);
  if (!base && !named && !composed)
    throw new ProblemException('not-found', `No model, adapter or composition named ${model}`);
  if (composed && !composed.baseModelId)
    throw new ProblemException('conflict', `Knowledge base ${model} has no partitions yet`);
  const baseModel =
    base ?? (await tx.baseModel.findFirstOrThrow({ where: { id: named?.baseModelId ?? composed!.baseModelId! } }));
  if (baseModel.status !== 'ready')
    throw new ProblemException('conflict', `Base model ${baseModel.name} has no weights yet`);
  if (composed) return compositionRouting(baseModel, composed, routing);

  const onBase = async (reference: string, weight?: number): Promise<InferAdapter> => {
    const found = await findUsableAdapter(tx, caller, reference);
    if (found.baseModelId !== baseModel.id)
      throw new ProblemException(
        'validation',
        `Adapter ${reference} is trained on another base model than ${baseModel.name}`,
        [{ field: 'routing.adapters', message: `not an adapter of ${baseModel.name}` }],
      );
    const { baseModelId: _, ...adapter } = found;
    return weight === undefined ? adapter : { ...adapter, weight };
  };
  const mode = routing?.mode ?? (named ? 'adapter' : 'base');
  switch (mode) {
    case 'base':
      return { baseModel, mode, router: 'fixed', adapters: [] };
    case 'adapter': {
      const given = routing?.adapters;
      if (given && given.length !== 1)
        throw new ProblemException('validation', 'Adapter mode runs exactly one adapter', [
          { field: 'routing.adapters', message: 'give one adapter' },
        ]);
      if (!given && !named)
        throw new ProblemException(
          'validation',
          'Adapter mode needs an adapter: name it as the model or in routing.adapters',
          [{ field: 'routing.adapters', message: 'required' }],
        );
      return {
        baseModel,
        mode,
        router: 'fixed',
        adapters: [given ? await onBase(given[0]!.name, 1) : { ...(await onBase(model)), weight: 1 }],
      };
    }
    case 'mixture': {
      const given = routing?.adapters;
      if (!given)
        throw new ProblemException('validation', 'Mixture mode needs routing.adapters with their weights', [
          { field: 'routing.adapters', message: 'required' },
        ]);
      const adapters = await Promise.all(given.map((a) => onBase(a.name, a.weight ?? 1)));
      if (new Set(adapters.map((a) => a.adapterId)).size !== adapters.length)
        throw new ProblemException('validation', 'Mixture mode names an adapter twice', [
          { field: 'routing.adapters', message: 'duplicate adapter' },
        ]);
      return { baseModel, mode, router: 'fixed', adapters };
    }
    case 'auto':
    case 'token': {
      const candidates = routing?.adapters
        ? await Promise.all(routing.adapters.map((a) => onBase(a.name)))
        : await everyUsableAdapter(tx, caller, baseModel.id);
      if (new Set(candidates.map((a) => a.adapterId)).size !== candidates.length)
        throw new ProblemException('validation', 'routing.adapters names an adapter twice', [
          { field: 'routing.adapters', message: 'duplicate adapter' },
        ]);
      const router = mode === 'token' || routing?.router === 'arrow' ? 'arrow' : 'centroid';
      if (router === 'arrow' && candidates.length > MAX_TOKEN_CANDIDATES) {
        throw new ProblemException(
          'validation',
          `Per-token routing runs over at most ${MAX_TOKEN_CANDIDATES} adapters; you may use ${candidates.length}: name the candidates in routing.adapters`,
          [{ field: 'routing.adapters', message: `at most ${MAX_TOKEN_CANDIDATES}` }],
        );
      }
      return {
        baseModel,
        mode,
        router,
        adapters: candidates,
        topK: routing?.top_k ?? (router === 'arrow' && mode === 'token' ? 2 : 1),
      };
    }
  }
}

/** A composition runs as it was built: a merge as one adapter (mixture), a learned gate per token over its members. */
function compositionRouting(
  baseModel: BaseModelModel,
  found: NonNullable<Awaited<ReturnType<typeof findUsableComposition>>>,
  routing: Routing | undefined,
): ResolvedRouting {
  const { composition, members } = found;
  if (composition.method === 'centroid') {
    if (routing && (routing.mode !== 'auto' || routing.adapters || routing.router === 'arrow')) {
      throw new ProblemException(
        'validation',
        `Knowledge base ${composition.name} is routed per request (auto) over its partitions; give routing.mode auto (top_k allowed) or leave routing out`,
        [{ field: 'routing', message: 'mode auto, no adapters' }],
      );
    }
    return {
      baseModel,
      mode: 'auto',
      router: 'centroid',
      adapters: members,
      topK: routing?.top_k ?? 1,
      composition: {
        id: composition.id,
        name: composition.name,
        version: composition.version,
        method: 'centroid',
        artifactBlob: null,
      },
    };
  }
  const learned = composition.method === 'learned_gate';
  const mode = learned ? 'token' : 'mixture';
  if (!['linear', 'cat', 'ties', 'dare_linear', 'dare_ties', 'learned_gate'].includes(composition.method))
    throw new ProblemException(
      'conflict',
      `Composition ${composition.name} has method ${composition.method}, which cannot be served`,
    );
  if (routing && (routing.mode !== mode || routing.adapters || routing.router)) {
    throw new ProblemException(
      'validation',
      `Composition ${composition.name} (${composition.method}) runs in routing mode ${mode} over its own members; give routing.mode ${mode} or leave routing out`,
      [{ field: 'routing', message: `mode ${mode}, no adapters` }],
    );
  }
  return {
    baseModel,
    mode,
    router: learned ? 'learned_gate' : 'merged',
    adapters: members,
    composition: {
      id: composition.id,
      name: composition.name,
      version: composition.version,
      method: composition.method,
      artifactBlob: composition.artifactBlob!,
    },
  };
}

/** `auto` without a list: every adapter on the base model the caller may use, at its latest ready version. */
function everyUsableAdapter(tx: TenantTransaction, caller: Caller, baseModelId: string): Promise<InferAdapter[]> {
  return usableAtLatestVersion(tx, caller, { baseModelId }, 1000);
}

/** The usable adapters among `where`, each at its latest ready version (those with none left out), by id. */
async function usableAtLatestVersion(
  tx: TenantTransaction,
  caller: Caller,
  where: { id?: { in: string[] }; baseModelId?: string },
  take?: number,
): Promise<InferAdapter[]> {
  const adapters = await tx.adapter.findMany({
    where: { ...usableWhere(caller), ...where },
    orderBy: { id: 'asc' },
    ...(take !== undefined ? { take } : {}),
  });
  const versions = await tx.adapterVersion.findMany({
    where: { adapterId: { in: adapters.map((a) => a.id) }, status: 'ready' },
    orderBy: { version: 'desc' },
  });
  return adapters.flatMap((adapter) => {
    const latest = versions.find((v) => v.adapterId === adapter.id);
    return latest ? [{ adapterId: adapter.id, versionId: latest.id, name: adapter.name, version: latest.version }] : [];
  });
}

export function routingTrace(
  resolved: ResolvedRouting,
  used: { name: string; version: number; weight: number; score?: number }[],
  tokenGates?: { tokens: string[]; gates: number[][]; weights: number[] },
): RoutingTrace {
  return {
    mode: resolved.mode,
    router: resolved.router,
    ...(resolved.composition
      ? {
          composition: {
            name: resolved.composition.name,
            version: resolved.composition.version,
            method: resolved.composition.method,
          },
        }
      : {}),
    adapters: used.map((a, j) => ({
      name: a.name,
      version: a.version,
      weight: tokenGates?.weights[j] ?? a.weight,
      ...(a.score !== undefined ? { score: a.score } : {}),
    })),
    ...(tokenGates?.tokens.length ? { token_gates: { tokens: tokenGates.tokens, gates: tokenGates.gates } } : {}),
  };
}

/** What `GET /v1/models` lists: ready base models and the adapters the caller may use. */
export async function usableModels(tx: TenantTransaction, caller: Caller) {
  const bases = await tx.baseModel.findMany({
    where: { status: 'ready', OR: [{ tenantId: null }, { tenantId: caller.tenantId }] },
    orderBy: { id: 'asc' },
  });
  const adapters = await tx.adapter.findMany({ where: usableWhere(caller), orderBy: { id: 'asc' }, take: 1000 });
  const ready = new Set(
    (
      await tx.adapterVersion.findMany({
        where: { adapterId: { in: adapters.map((a) => a.id) }, status: 'ready' },
        select: { adapterId: true },
      })
    ).map((v) => v.adapterId),
  );
  const baseName = new Map(bases.map((b) => [b.id, b.name]));
  const compositions = await tx.composition.findMany({
    where: { ...visible.compositions(caller), status: 'ready' },
    include: { members: { include: { adapter: true } } },
    orderBy: [{ name: 'asc' }, { version: 'desc' }],
    take: 1000,
  });
  // The latest ready version of each name whose members the caller may all use.
  const listed = compositions.filter(
    (c, i) =>
      compositions.findIndex((o) => o.name === c.name) === i &&
      c.members.length > 0 &&
      c.members.every((m) => usableAdapter(caller, m.adapter)),
  );
  return [
    ...bases.map((b) => ({
      id: b.name,
      created: b.createdAt,
      owner: b.tenantId ? 'tenant' : 'tessera',
      kind: 'base_model' as const,
      baseModel: b.name,
    })),
    ...adapters
      .filter((a) => ready.has(a.id) && baseName.has(a.baseModelId))
      .map((a) => ({
        id: a.name,
        created: a.createdAt,
        owner: 'tenant',
        kind: 'adapter' as const,
        baseModel: baseName.get(a.baseModelId)!,
      })),
    ...listed
      .filter((c) => baseName.has(c.members[0]!.adapter.baseModelId))
      .map((c) => ({
        id: c.name,
        created: c.createdAt,
        owner: 'tenant',
        kind: 'composition' as const,
        baseModel: baseName.get(c.members[0]!.adapter.baseModelId)!,
      })),
  ];
}
