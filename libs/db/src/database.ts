import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, type Prisma } from './generated/prisma/client.js';
import type { BaseModelPrecision, ModelArchitecture } from './generated/prisma/enums.js';
import type { TenantContext } from './tenant-context.js';
import { TenantScopedPool, tenantScope, type TenantScope } from './tenant-scoped-pool.js';

/** The role the application runs as: no BYPASSRLS, so every row it touches passes RLS (named in withTenant's SQL too). */
export const APP_ROLE = 'tessera_app';

/** A Prisma transaction that can only see one tenant's rows. */
export type TenantTransaction = Prisma.TransactionClient;

/** A platform base model read in place from a checkpoint prefix, as the platform admin registers it. */
export interface PlatformBaseModelRow {
  id: string;
  name: string;
  architecture: ModelArchitecture;
  config: object;
  precision: BaseModelPrecision;
  checkpointPrefix: string;
  weightShards: object;
  tokenizerBlob: string | null;
}

/** What the auth guard needs of a key, found by the hash of its secret across all tenants. */
export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  principalId: string;
  scopes: string[];
  rateLimitPerMinute: number | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  groupIds: string[];
}

export interface DatabaseOptions {
  connectionString: string;
  /** Pool size; the embedded Postgres serves one connection at a time. */
  maxConnections?: number;
}

/** A row whose Postgres state says it should be on a queue. */
export interface UnfinishedWork {
  kind: 'job' | 'webhook_delivery';
  id: string;
  tenantId: string;
}

export interface PoolConnections {
  total: number;
  idle: number;
  waiting: number;
}

/** What a pooled connection carries outside any tenant transaction. */
export interface ConnectionIdentity {
  role: string;
  tenantId: string | null;
  bypassesRls: boolean;
  superuser: boolean;
}

/**
 * The one way to the database. The Prisma client is private: every tenant-owned row is read
 * and written inside `withTenant`, so no query can skip the tenant scope that row-level
 * security checks.
 */
export class Database {
  private readonly prisma: PrismaClient;
  private readonly pool: TenantScopedPool;

  constructor(options: DatabaseOptions) {
    this.pool = new TenantScopedPool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      // A server that accepts no connection (hung, or a black-holed address) is an outage in 5 s.
      connectionTimeoutMillis: 5_000,
    });
    this.prisma = new PrismaClient({ adapter: new PrismaPg(this.pool, { disposeExternalPool: true }) });
  }

  /**
   * Runs `work` in one interactive transaction whose queries see only `ctx`'s rows.
   * The transaction's BEGIN carries the scope (see tenant-scoped-pool.ts): the role switch
   * makes RLS hold even where the connection itself is privileged (the embedded Postgres has
   * a single superuser), and both settings end with the transaction.
   */
  withTenant<T>(ctx: TenantContext, work: (tx: TenantTransaction) => Promise<T>): Promise<T> {
    const scope = this.scopeOf(ctx);
    return tenantScope.run(scope, () =>
      this.prisma.$transaction(
        async (tx) => {
          // Fails closed should a transaction ever begin outside this async context.
          if (!scope.applied) throw new Error('the tenant scope was not applied to this transaction');
          return work(tx);
        },
        // Prisma's defaults (2 s to get a connection, 5 s to run) fail bursts on a small machine
        // that would have been served a moment later.
        { maxWait: 10_000, timeout: 30_000 },
      ),
    );
  }

  /**
   * Runs reads with no interactive transaction: each statement travels with its own
   * scope in one round trip and sees its own snapshot. For work where one statement
   * answers, or where statements need not agree; anything that writes uses `withTenant`.
   */
  readAsTenant<T>(ctx: TenantContext, work: (reader: TenantTransaction) => Promise<T>): Promise<T> {
    // Awaited inside the scope: Prisma's queries are lazy and would otherwise start, and take
    // their async context, wherever the caller awaits them.
    return tenantScope.run(this.scopeOf(ctx), async () => await work(this.reader));
  }

  /**
   * The client readAsTenant hands out: findUnique and findUniqueOrThrow refuse. Outside a
   * transaction Prisma batches the findUniques of one tick into one query, run in the async
   * context (so the tenant scope) of whichever caller came first; findFirst is never batched.
   */
  private readonly reader: TenantTransaction = unbatchedReader(() => this.prisma);

  private scopeOf(ctx: TenantContext): TenantScope {
    return { tenantId: ctx.tenantId, role: APP_ROLE, applied: false };
  }

  /**
   * Looks a key up before its tenant is known, through a SECURITY DEFINER function that
   * returns only the row with this hash (see the rls migration). Also resolves the groups
   * the key may use: its own and its principal's.
   */
  async findApiKeyByHash(keyHash: Uint8Array): Promise<ApiKeyRecord | null> {
    const rows = await this.prisma.$queryRaw<
      {
        id: string;
        tenant_id: string;
        principal_id: string;
        scopes: string[];
        rate_limit_per_minute: number | null;
        expires_at: Date | null;
        revoked_at: Date | null;
        group_ids: string[];
      }[]
    >`SELECT * FROM tessera_find_api_key(${keyHash})`;
    const row = rows[0];
    if (!row) return null;
    return {
      id: row.id,
      tenantId: row.tenant_id,
      principalId: row.principal_id,
      scopes: row.scopes,
      rateLimitPerMinute: row.rate_limit_per_minute,
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
      groupIds: row.group_ids,
    };
  }

  /**
   * Jobs queued or running and webhook deliveries pending, across tenants, created before
   * `settledBefore`: ids and tenants only, through a SECURITY DEFINER function (see the
   * unfinished_work migration). The reconciler reads each row itself inside `withTenant`.
   */
  async unfinishedWork(settledBefore: Date): Promise<UnfinishedWork[]> {
    const rows = await this.prisma.$queryRaw<{ kind: UnfinishedWork['kind']; id: string; tenant_id: string }[]>`
      SELECT * FROM tessera_unfinished_work(${settledBefore})`;
    return rows.map((row) => ({ kind: row.kind, id: row.id, tenantId: row.tenant_id }));
  }

  /** Every tenant's id, through a SECURITY DEFINER function (see the tenant_ids migration), for sweeps that visit each tenant. */
  async tenantIds(): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ id: string }[]>`SELECT id FROM tessera_tenant_ids()`;
    return rows.map((row) => row.id);
  }

  /**
   * Inserts a ready platform base model (tenant_id NULL) through a SECURITY DEFINER function
   * (see the sharded_base_models migration): tenants' RLS lets no app transaction write the
   * platform's rows. Null when a platform model already has the name.
   */
  async registerPlatformBaseModel(row: PlatformBaseModelRow): Promise<{ id: string; createdAt: Date } | null> {
    const rows = await this.prisma.$queryRaw<{ id: string; created_at: Date }[]>`
      SELECT * FROM tessera_register_platform_base_model(
        ${row.id}, ${row.name}, ${row.architecture}::model_architecture, ${JSON.stringify(row.config)}::jsonb,
        ${row.precision}::base_model_precision, ${row.checkpointPrefix}, ${JSON.stringify(row.weightShards)}::jsonb,
        ${row.tokenizerBlob})`;
    const created = rows[0];
    return created ? { id: created.id, createdAt: created.created_at } : null;
  }

  async ping(): Promise<void> {
    await this.prisma.$queryRaw`SELECT 1`;
  }

  /** The pool's connections now: open, idle among them, and callers waiting for one (a leak shows as idle 0, waiting > 0). */
  poolConnections(): PoolConnections {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  /** The role and tenant setting of a pooled connection outside any transaction (what RLS sees there). */
  async connectionIdentity(): Promise<ConnectionIdentity> {
    const [row] = await this.prisma.$queryRaw<
      { role: string; tenant: string | null; bypass: boolean; superuser: boolean }[]
    >`
      SELECT current_user AS role, nullif(current_setting('app.tenant_id', true), '') AS tenant, rolbypassrls AS bypass, rolsuper AS superuser
      FROM pg_roles WHERE rolname = current_user`;
    return { role: row!.role, tenantId: row!.tenant, bypassesRls: row!.bypass, superuser: row!.superuser };
  }

  disconnect(): Promise<void> {
    return this.prisma.$disconnect();
  }
}

function unbatchedReader(prisma: () => PrismaClient): TenantTransaction {
  const refuse = (model: string, method: string) => () => {
    throw new Error(
      `${model}.${method} in readAsTenant: Prisma batches it across concurrent callers (and their tenant scopes); use findFirst`,
    );
  };
  return new Proxy({} as TenantTransaction, {
    get(_, property) {
      const value: unknown = Reflect.get(prisma(), property);
      if (typeof property !== 'string' || typeof value !== 'object' || value === null || !('findUnique' in value))
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(prisma()) : value;
      return new Proxy(value, {
        get(delegate, method) {
          if (method === 'findUnique' || method === 'findUniqueOrThrow') return refuse(property, method);
          return Reflect.get(delegate, method) as unknown;
        },
      });
    },
  });
}
