import { Injectable } from '@nestjs/common';
import type { Routing } from '@tessera/contracts';
import type { TenantTransaction } from '@tessera/db';
import { Counter } from 'prom-client';
import type { Caller } from '../common/caller.js';
import { HttpMetrics } from '../common/http-metrics.js';
import { resolveRouting, type ResolvedRouting } from './model-resolver.js';

/** Cached resolutions at most; past it the oldest go (a Map keeps insertion order). */
const MAX_ENTRIES = 5_000;

/**
 * Routing resolutions (model, adapters, versions, composition) per tenant, caller groups,
 * model and routing, under the tenant's routing generation. A trigger bumps the generation in
 * the same transaction as any change to the tenant's adapters, versions, compositions or base
 * models (see the routing_generation migration), whoever makes it; each request reads the
 * generation first (one indexed row) and uses an entry only if it was stored under that same
 * generation. An entry's rows are read after its generation, so it is never older than its label.
 * Refusals (404, 409) are not cached.
 */
@Injectable()
export class RoutingCache {
  private readonly entries = new Map<string, { generation: bigint; resolved: ResolvedRouting }>();
  private readonly lookups: Counter<'result'>;

  constructor(metrics: HttpMetrics) {
    this.lookups = new Counter({
      name: 'tessera_routing_cache_lookups_total',
      help: 'Routing resolutions served from the cache (hit) or read from Postgres (miss)',
      labelNames: ['result'] as const,
      registers: [metrics.registry],
    });
  }

  async resolve(
    tx: TenantTransaction,
    caller: Caller,
    model: string,
    routing: Routing | undefined,
  ): Promise<ResolvedRouting> {
    const { routingGeneration: generation } = await tx.tenant.findFirstOrThrow({
      where: { id: caller.tenantId },
      select: { routingGeneration: true },
    });
    // Everything resolution reads of the caller: its groups, and its scopes (an admin key sees every group).
    const key = JSON.stringify([
      caller.tenantId,
      [...caller.groupIds].sort(),
      [...caller.scopes].sort(),
      model,
      routing ?? null,
    ]);
    const cached = this.entries.get(key);
    if (cached && cached.generation === generation) {
      this.lookups.inc({ result: 'hit' });
      return cached.resolved;
    }
    this.lookups.inc({ result: 'miss' });
    const resolved = await resolveRouting(tx, caller, model, routing);
    this.entries.delete(key);
    this.entries.set(key, { generation, resolved });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    return resolved;
  }
}
