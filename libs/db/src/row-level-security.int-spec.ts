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
