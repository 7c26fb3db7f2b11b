import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';

/**
 * The tenant whose scope the queries started in this async context run under. `applied`
 * turns true once a transaction begun here has set the scope, so `Database.withTenant` can
 * refuse to run work in a transaction that somehow began outside it (fail closed).
 */
export interface TenantScope {
  readonly tenantId: string;
  readonly role: string;
  applied: boolean;
}

export const tenantScope = new AsyncLocalStorage<TenantScope>();

/** Both settings with `is_local` true: they end with the transaction, so a pooled connection carries nothing over. */
const SET_SCOPE = "SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true)";

type QueryConfig = pg.QueryConfig & { rowMode?: 'array' };

function isBegin(config: unknown): boolean {
  const text = typeof config === 'string' ? config : (config as { text?: unknown } | null)?.text;
  return typeof text === 'string' && text.trim().toUpperCase() === 'BEGIN';
}

/**
 * A pg client in pipeline mode whose BEGIN, inside a tenant scope, also sets that scope:
 * both statements leave in one write and come back in one round trip, where a BEGIN and a
 * separate `set_config` query cost two.
 */
export class TenantScopedClient extends pg.Client {
  constructor(config: pg.ClientConfig) {
    super({ ...config, pipeline: true } as pg.ClientConfig);
  }

  // pg's overloads are many; Prisma's adapter and this pool only use the promise form.
  override query(config: unknown, values?: unknown, callback?: unknown): never {
    const scope = tenantScope.getStore();
    if (!scope || callback !== undefined || typeof values === 'function' || !isBegin(config)) {
      return (super.query as (...args: unknown[]) => never)(config, values, callback);
    }
    const begin = super.query(config as QueryConfig, values as unknown[] | undefined);
    const setScope = super.query(SET_SCOPE, [scope.role, scope.tenantId]);
    return Promise.all([begin, setScope]).then(([begun]) => {
      scope.applied = true;
      return begun;
    }) as never;
  }
}

/**
 * A query that carries its tenant scope: Parse/Bind/Execute of the scope, then the query's
 * own messages, then one Sync. Postgres runs everything before a Sync as one implicit
 * transaction, so the `is_local` settings hold for the query and end with it: two statements
 * and one round trip, no BEGIN or COMMIT. The scope's one row and completion are swallowed;
 * an error in it fails the query, which Postgres then skips.
 */
class ScopedQuery extends pg.Query {
  private scopePending = true;

  constructor(
    config: QueryConfig,
    values: unknown[] | undefined,
    private readonly scope: TenantScope,
    callback: (error: Error | undefined, result: pg.QueryResult) => void,
  ) {
    // Extended protocol always: a simple Query message would end the implicit transaction early.
    super(
      { ...config, values: values ?? config.values ?? [], queryMode: 'extended' } as QueryConfig,
      callback as never,
    );
  }

  // pg types `submit` as a property, so this is one too.
  override submit = (connection: pg.Connection): void => {
    const wire = connection as unknown as ScopeWire;
    wire.stream.cork();
    try {
      wire.parse({ text: SET_SCOPE, types: [] });
      wire.bind({ values: [this.scope.role, this.scope.tenantId] });
      wire.execute({});
    } finally {
      wire.stream.uncork();
    }
    (pg.Query.prototype.submit as (this: pg.Query, connection: pg.Connection) => void).call(this, connection);
  };

  handleDataRow(message: unknown): void {
    if (this.scopePending) return;
    (pg.Query.prototype as unknown as QueryHandlers).handleDataRow.call(this, message);
  }

  handleCommandComplete(message: unknown, connection: pg.Connection): void {
    if (this.scopePending) {
      this.scopePending = false;
      this.scope.applied = true;
      return;
    }
    (pg.Query.prototype as unknown as QueryHandlers).handleCommandComplete.call(this, message, connection);
  }
}

/** The parts of pg's connection and query a ScopedQuery drives; pg's types leave them out. */
interface ScopeWire {
  stream: { cork(): void; uncork(): void };
  parse(message: { text: string; types: unknown[] }): void;
  bind(message: { values: unknown[] }): void;
  execute(message: object): void;
}
interface QueryHandlers {
  handleDataRow(this: pg.Query, message: unknown): void;
  handleCommandComplete(this: pg.Query, message: unknown, connection: pg.Connection): void;
}

/**
 * The pool under Prisma. Outside a transaction, a query in a tenant scope is sent as a
 * ScopedQuery: one round trip for a tenant-scoped read, with row-level security still the
 * guard. Everything else passes through unchanged.
 */
export class TenantScopedPool extends pg.Pool {
  constructor(config: pg.PoolConfig) {
    super({ ...config, Client: TenantScopedClient } as unknown as pg.PoolConfig);
  }

  override query(config: unknown, values?: unknown, callback?: unknown): never {
    const scope = tenantScope.getStore();
    if (!scope || callback !== undefined || typeof values === 'function') {
      return (super.query as (...args: unknown[]) => never)(config, values, callback);
    }
    const queryConfig: QueryConfig = typeof config === 'string' ? { text: config } : (config as QueryConfig);
    return this.scopedQuery(queryConfig, values as unknown[] | undefined, scope) as never;
  }

  private async scopedQuery(config: QueryConfig, values: unknown[] | undefined, scope: TenantScope) {
    const client = await this.connect();
    // A checked-out client's socket error is emitted on it: unheard, it would end the process.
    // The query's own callback reports it.
    const ignore = () => undefined;
    client.on('error', ignore);
    try {
      const result = await new Promise<pg.QueryResult>((resolve, reject) => {
        client.query(
          new ScopedQuery(config, values, scope, (error, result) => (error ? reject(error) : resolve(result))),
        );
      });
      client.release();
      return result;
    } catch (error) {
      // An implicit transaction ends at Sync whatever failed in it, so a connection that had
      // Postgres answer with an error is clean; any other failure (a lost socket, a FATAL that
      // ends the session) discards it.
      const serverSaid = error instanceof pg.DatabaseError && error.severity !== 'FATAL' && error.severity !== 'PANIC';
      client.release(serverSaid ? undefined : (error as Error));
      throw error;
    } finally {
      client.removeListener('error', ignore);
    }
  }
}
