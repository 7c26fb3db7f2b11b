import type { Routing, RoutingTrace } from '@tessera/contracts';
import type { TenantTransaction } from '@tessera/db';
import type { BaseModelModel } from '@tessera/db';
import type { InferAdapter, InferJobData } from '@tessera/queue';
import type { Caller } from '../common/caller.js';
import { ProblemException } from '../common/problem.exception.js';

/** What a request runs on once `model` and `routing` are resolved against what the caller may use. */
export interface ResolvedRouting {
  baseModel: BaseModelModel;
  mode: InferJobData['mode'];
  adapters: InferAdapter[];
  topK?: number;
}

/**
 * Adapters the caller may use: the tenant's active ones whose group (if any) is one of the
 * caller's. Everything else is treated as if it did not exist, so naming a forbidden adapter
 * is the same 404 as naming an unknown one, and `auto` never sees it.
 */
function usableWhere(caller: Caller) {
  return { tenantId: caller.tenantId, status: 'active' as const, OR: [{ accessGroupId: null }, { accessGroupId: { in: [...caller.groupIds] } }] };
}

/** `name` or `name@version` → the adapter's ready version (the latest when none is named). */
async function findUsableAdapter(tx: TenantTransaction, caller: Caller, reference: string): Promise<InferAdapter & { baseModelId: string }> {
  const match = /^(.+?)(?:@(\d+))?$/.exec(reference)!;
  const [name, version] = [match[1]!, match[2] ? Number(match[2]) : undefined];
  const adapter = await tx.adapter.findFirst({ where: { ...usableWhere(caller), name } });
  if (!adapter) throw new ProblemException('not-found', `No model or adapter named ${reference}`);
  const row = await tx.adapterVersion.findFirst({
    where: { adapterId: adapter.id, status: 'ready', ...(version !== undefined ? { version } : {}) },
    orderBy: { version: 'desc' },
  });
  if (!row) throw new ProblemException('not-found', version !== undefined ? `Adapter ${name} has no ready version ${version}` : `Adapter ${name} has no ready version yet`);
  return { adapterId: adapter.id, versionId: row.id, name: adapter.name, version: row.version, baseModelId: adapter.baseModelId };
}

async function findBase(tx: TenantTransaction, caller: Caller, reference: string): Promise<BaseModelModel | null> {
  const rows = await tx.baseModel.findMany({ where: { OR: [{ id: reference }, { name: reference }], AND: [{ OR: [{ tenantId: null }, { tenantId: caller.tenantId }] }] } });
  return rows.find((r) => r.tenantId) ?? rows[0] ?? null;
}

export async function resolveRouting(tx: TenantTransaction, caller: Caller, model: string, routing: Routing | undefined): Promise<ResolvedRouting> {
  const base = await findBase(tx, caller, model);
  const named = base ? null : await findUsableAdapter(tx, caller, model);
  const baseModel = base ?? (await tx.baseModel.findFirstOrThrow({ where: { id: named!.baseModelId } }));
  if (baseModel.status !== 'ready') throw new ProblemException('conflict', `Base model ${baseModel.name} has no weights yet`);

  const onBase = async (reference: string, weight?: number): Promise<InferAdapter> => {
    const found = await findUsableAdapter(tx, caller, reference);
    if (found.baseModelId !== baseModel.id) throw new ProblemException('validation', `Adapter ${reference} is trained on another base model than ${baseModel.name}`, [{ field: 'routing.adapters', message: `not an adapter of ${baseModel.name}` }]);
    const { baseModelId: _, ...adapter } = found;
    return weight === undefined ? adapter : { ...adapter, weight };
  };
  const mode = routing?.mode ?? (named ? 'adapter' : 'base');
  switch (mode) {
    case 'base':
      return { baseModel, mode, adapters: [] };
    case 'adapter': {
      const given = routing?.adapters;
      if (given && given.length !== 1) throw new ProblemException('validation', 'Adapter mode runs exactly one adapter', [{ field: 'routing.adapters', message: 'give one adapter' }]);
      if (!given && !named) throw new ProblemException('validation', 'Adapter mode needs an adapter: name it as the model or in routing.adapters', [{ field: 'routing.adapters', message: 'required' }]);
      return { baseModel, mode, adapters: [given ? await onBase(given[0]!.name, 1) : { ...(await onBase(model)), weight: 1 }] };
    }
    case 'mixture': {
      const given = routing?.adapters;
      if (!given) throw new ProblemException('validation', 'Mixture mode needs routing.adapters with their weights', [{ field: 'routing.adapters', message: 'required' }]);
      const adapters = await Promise.all(given.map((a) => onBase(a.name, a.weight ?? 1)));
      if (new Set(adapters.map((a) => a.adapterId)).size !== adapters.length) throw new ProblemException('validation', 'Mixture mode names an adapter twice', [{ field: 'routing.adapters', message: 'duplicate adapter' }]);
      return { baseModel, mode, adapters };
    }
    case 'auto': {
      const candidates = routing?.adapters
        ? await Promise.all(routing.adapters.map((a) => onBase(a.name)))
        : await everyUsableAdapter(tx, caller, baseModel.id);
      return { baseModel, mode, adapters: candidates, topK: routing?.top_k ?? 1 };
    }
    case 'token':
      throw new ProblemException('validation', 'Routing mode token (learned gates and Arrow) is not available yet; use adapter, mixture or auto', [{ field: 'routing.mode', message: 'not available yet' }]);
  }
}

/** `auto` without a list: every adapter on the base model the caller may use, at its latest ready version. */
async function everyUsableAdapter(tx: TenantTransaction, caller: Caller, baseModelId: string): Promise<InferAdapter[]> {
  const adapters = await tx.adapter.findMany({ where: { ...usableWhere(caller), baseModelId }, orderBy: { id: 'asc' }, take: 1000 });
  const versions = await tx.adapterVersion.findMany({ where: { adapterId: { in: adapters.map((a) => a.id) }, status: 'ready' }, orderBy: { version: 'desc' } });
  return adapters.flatMap((adapter) => {
    const latest = versions.find((v) => v.adapterId === adapter.id);
    return latest ? [{ adapterId: adapter.id, versionId: latest.id, name: adapter.name, version: latest.version }] : [];
  });
}

export function routingTrace(mode: InferJobData['mode'], used: { name: string; version: number; weight: number; score?: number }[]): RoutingTrace {
  return { mode, adapters: used.map((a) => ({ name: a.name, version: a.version, weight: a.weight, ...(a.score !== undefined ? { score: a.score } : {}) })) };
}

/** What `GET /v1/models` lists: ready base models and the adapters the caller may use. */
export async function usableModels(tx: TenantTransaction, caller: Caller) {
  const bases = await tx.baseModel.findMany({ where: { status: 'ready', OR: [{ tenantId: null }, { tenantId: caller.tenantId }] }, orderBy: { id: 'asc' } });
  const adapters = await tx.adapter.findMany({ where: usableWhere(caller), orderBy: { id: 'asc' }, take: 1000 });
  const ready = new Set((await tx.adapterVersion.findMany({ where: { adapterId: { in: adapters.map((a) => a.id) }, status: 'ready' }, select: { adapterId: true } })).map((v) => v.adapterId));
  const baseName = new Map(bases.map((b) => [b.id, b.name]));
  return [
    ...bases.map((b) => ({ id: b.name, created: b.createdAt, owner: b.tenantId ? 'tenant' : 'tessera', kind: 'base_model' as const, baseModel: b.name })),
    ...adapters.filter((a) => ready.has(a.id) && baseName.has(a.baseModelId)).map((a) => ({ id: a.name, created: a.createdAt, owner: 'tenant', kind: 'adapter' as const, baseModel: baseName.get(a.baseModelId)! })),
  ];
}
