import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { APP_ROLE, Database } from './database.js';

/** Ids need only be unique here; the format is the gateway's business. */
const unique = (prefix: string) =>
  `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 12)}`.toUpperCase();

describe('row-level security', () => {
  const database = new Database({ connectionString: requiredEnv('TEST_DATABASE_URL'), maxConnections: 2 });
  const owner = new pg.Client({ connectionString: requiredEnv('TEST_OWNER_DATABASE_URL') });
  const tenantA = unique('ten');
  const tenantB = unique('ten');

  before(async () => {
    await owner.connect();
    for (const [tenant, groups] of [
      [tenantA, ['a1', 'a2']],
      [tenantB, ['b1']],
    ] as const) {
      await owner.query('INSERT INTO tenants (id, name, updated_at) VALUES ($1, $1, now())', [tenant]);
      for (const name of groups) {
        await owner.query('INSERT INTO access_groups (id, tenant_id, name, updated_at) VALUES ($1, $2, $3, now())', [
          unique('grp'),
          tenant,
          name,
        ]);
      }
    }
  });
  after(async () => {
    await owner.query('DELETE FROM tenants WHERE id = ANY($1)', [[tenantA, tenantB]]);
    await owner.end();
    await database.disconnect();
  });

  it("returns only the scoped tenant's rows to a query with no where clause", async () => {
    const rows = await database.withTenant({ tenantId: tenantA }, (tx) => tx.accessGroup.findMany());
    assert.deepEqual(rows.map((r) => r.name).sort(), ['a1', 'a2']);
    const tenants = await database.withTenant({ tenantId: tenantB }, (tx) => tx.tenant.findMany());
    assert.deepEqual(
      tenants.map((t) => t.id),
      [tenantB],
    );
  });

  it('returns nothing to the application role outside a tenant scope', async () => {
    const app = new pg.Client({ connectionString: requiredEnv('TEST_DATABASE_URL') });
    await app.connect();
    const { rows } = await app.query('SELECT id FROM access_groups WHERE tenant_id = ANY($1)', [[tenantA, tenantB]]);
    await app.end();
    assert.equal(rows.length, 0);
  });

  it("refuses to write a row into another tenant's space", async () => {
    await assert.rejects(
      database.withTenant({ tenantId: tenantA }, (tx) =>
        tx.accessGroup.create({ data: { id: unique('grp'), tenantId: tenantB, name: 'smuggled' } }),
      ),
      /row-level security|violates/i,
    );
    await database.withTenant({ tenantId: tenantA }, async (tx) => {
      const updated = await tx.accessGroup.updateMany({
        where: { tenantId: tenantB },
        data: { description: 'hijacked' },
      });
      assert.equal(updated.count, 0);
    });
  });

  it('does not carry the tenant over to the next transaction on the same connection', async () => {
    // One connection: the check runs on the very connection the transaction used.
    const single = new Database({ connectionString: requiredEnv('TEST_DATABASE_URL'), maxConnections: 1 });
    await single.withTenant({ tenantId: tenantA }, (tx) => tx.accessGroup.findMany());
    const after = await single.connectionIdentity();
    await single.disconnect();
    assert.equal(after.tenantId, null, `app.tenant_id leaked: ${after.tenantId}`);
  });

  it('scopes reads outside a transaction to the tenant, each with its own settings', async () => {
    const names = (rows: { name: string }[]) => rows.map((r) => r.name).sort();
    // One connection, reads for both tenants interleaved on it: nothing crosses over.
    const single = new Database({ connectionString: requiredEnv('TEST_DATABASE_URL'), maxConnections: 1 });
    try {
      const reads = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          single.readAsTenant({ tenantId: i % 2 ? tenantB : tenantA }, (reader) => reader.accessGroup.findMany()),
        ),
      );
      reads.forEach((rows, i) => assert.deepEqual(names(rows), i % 2 ? ['b1'] : ['a1', 'a2']));
      assert.equal((await single.connectionIdentity()).tenantId, null);
    } finally {
      await single.disconnect();
    }
  });

  it('switches a privileged connection to the application role for a read', async () => {
    // The owner connection bypasses RLS on its own; the scope's role switch must not.
    const privileged = new Database({ connectionString: requiredEnv('TEST_OWNER_DATABASE_URL'), maxConnections: 1 });
    try {
      const rows = await privileged.readAsTenant({ tenantId: tenantB }, (reader) =>
        reader.accessGroup.findMany({ where: { tenantId: { in: [tenantA, tenantB] } } }),
      );
      assert.deepEqual(
        rows.map((r) => r.name),
        ['b1'],
      );
      const inTransaction = await privileged.withTenant({ tenantId: tenantA }, (tx) =>
        tx.accessGroup.count({ where: { tenantId: { in: [tenantA, tenantB] } } }),
      );
      assert.equal(inTransaction, 2);
    } finally {
      await privileged.disconnect();
    }
  });

  it('leaves the connection clean after a read fails', async () => {
    const single = new Database({ connectionString: requiredEnv('TEST_DATABASE_URL'), maxConnections: 1 });
    try {
      await assert.rejects(
        single.readAsTenant({ tenantId: tenantA }, (reader) => reader.$queryRaw`SELECT 1 / 0`),
        /division by zero/,
      );
      const identity = await single.connectionIdentity();
      assert.equal(identity.tenantId, null);
      const rows = await single.readAsTenant({ tenantId: tenantA }, (reader) => reader.accessGroup.findMany());
      assert.equal(rows.length, 2);
    } finally {
      await single.disconnect();
    }
  });

  it("refuses findUnique in a read scope, where Prisma would batch it across callers' scopes", async () => {
    await assert.rejects(
      database.readAsTenant({ tenantId: tenantA }, (reader) => reader.tenant.findUnique({ where: { id: tenantA } })),
      /tenant\.findUnique in readAsTenant: Prisma batches it across concurrent callers/,
    );
    // Single-row reads of two tenants started in one tick each see their own tenant.
    const [a, b] = await Promise.all(
      [tenantA, tenantB].map((tenantId) =>
        database.readAsTenant({ tenantId }, (reader) => reader.tenant.findFirst({ where: { id: tenantId } })),
      ),
    );
    assert.deepEqual([a?.id, b?.id], [tenantA, tenantB]);
  });

  it('refuses a write through a read scope into another tenant', async () => {
    await assert.rejects(
      database.readAsTenant({ tenantId: tenantA }, (reader) =>
        reader.accessGroup.create({ data: { id: unique('grp'), tenantId: tenantB, name: 'smuggled' } }),
      ),
      /row-level security|violates/i,
    );
  });

  it('connects as a role that cannot bypass RLS', async () => {
    const identity = await database.connectionIdentity();
    assert.deepEqual([identity.role, identity.bypassesRls, identity.superuser], [APP_ROLE, false, false]);
  });

  it('has a policy on every table that holds tenant rows', async () => {
    const { rows } = await owner.query<{ table_name: string; rls: boolean; policies: number }>(`
      SELECT c.table_name, cl.relrowsecurity AS rls,
             (SELECT count(*)::int FROM pg_policies p WHERE p.tablename = c.table_name) AS policies
      FROM information_schema.columns c JOIN pg_class cl ON cl.relname = c.table_name
      WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id'`);
    assert.ok(rows.length >= 20, `only ${rows.length} tenant tables found`);
    const unprotected = rows.filter((r) => !r.rls || r.policies === 0).map((r) => r.table_name);
    assert.deepEqual(unprotected, []);
  });
});

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}
