import type { Database } from '@tessera/db';
import { Gauge, type Registry } from 'prom-client';

/** The gateway's Postgres pool at each scrape: connections open, idle, and requests waiting for one. */
export function registerDatabasePoolGauge(registry: Registry, database: Database): void {
  new Gauge({
    name: 'tessera_db_pool_connections',
    help: "The gateway's Postgres pool: connections open (total), idle, and callers waiting for one",
    labelNames: ['state'],
    registers: [registry],
    collect() {
      for (const [state, count] of Object.entries(database.poolConnections())) this.set({ state }, count);
    },
  });
}
