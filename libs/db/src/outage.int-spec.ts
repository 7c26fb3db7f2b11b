import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Database } from './database.js';
import { isDatabaseOutage, isDatabasePoolExhausted } from './outage.js';

describe('a pool with every connection busy', () => {
  it('fails a read after the wait limit with an error that says the pool was exhausted', async (t) => {
    const connectionString = process.env.TEST_DATABASE_URL;
    if (!connectionString) throw new Error('TEST_DATABASE_URL is not set: run the tests with `npm test`');
    const database = new Database({ connectionString, maxConnections: 1 });
    t.after(() => database.disconnect());
    const ctx = { tenantId: 'ten_pool_exhausted' };
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    // The pool's only connection, held by a transaction until the read has failed.
    let holds = (): void => undefined;
    const holdsConnection = new Promise<void>((resolve) => (holds = resolve));
    const holding = database.withTenant(ctx, async (tx) => {
      await tx.accessGroup.findMany();
      holds();
      await held;
    });
    await holdsConnection;
    try {
      await assert.rejects(
        database.readAsTenant(ctx, (reader) => reader.accessGroup.findMany()),
        (error: unknown) => {
          assert.ok(isDatabasePoolExhausted(error), `not named a pool wait: ${String(error)}`);
          assert.ok(isDatabaseOutage(error), 'a pool wait that ran out is answered as unavailable');
          return true;
        },
      );
    } finally {
      release();
      await holding;
    }
    // The pool recovers once the connection is back.
    assert.deepEqual(await database.readAsTenant(ctx, (reader) => reader.accessGroup.findMany()), []);
  });
});
