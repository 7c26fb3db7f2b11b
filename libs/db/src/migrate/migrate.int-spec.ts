import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate, SNAPSHOT_FILE } from './migrate.js';

const SCHEMA_V1 = `
datasource db {
  provider = "postgresql"
}

model Widget {
  id   String @id
  name String
}
`;
const SCHEMA_V2 = SCHEMA_V1.replace('name String', 'name String\n  size Int    @default(0)');

describe('migrate (wasm schema engine)', () => {
  const ownerUrl = new URL(process.env.TEST_OWNER_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/tessera_test');
  const databaseName = `tessera_migrate_${process.pid}_${Date.now()}`;
  const databaseUrl = Object.assign(new URL(ownerUrl.toString()), { pathname: `/${databaseName}` }).toString();
  let dir: string;
  let schemaPath: string;
  let migrationsDir: string;
  const quiet = () => undefined;

  const admin = () =>
    new pg.Client({
      connectionString: Object.assign(new URL(ownerUrl.toString()), { pathname: '/postgres' }).toString(),
    });
  const query = async (sql: string) => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };

  before(async () => {
    const client = admin();
    await client.connect();
    await client.query(`CREATE DATABASE ${databaseName}`);
    await client.end();
    dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-migrate-'));
    schemaPath = path.join(dir, 'schema.prisma');
    migrationsDir = path.join(dir, 'migrations');
    await writeFile(schemaPath, SCHEMA_V1);
  });
  after(async () => {
    const client = admin();
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
    await client.end();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the first migration from an empty history and applies it', async () => {
    const result = await migrate({ databaseUrl, schemaPath, migrationsDir, createName: 'init', log: quiet });
    assert.match(result.created ?? '', /^\d{14}_init$/);
    assert.deepEqual(result.applied, [result.created]);
    const sql = await readFile(path.join(migrationsDir, result.created!, 'migration.sql'), 'utf8');
    assert.match(sql, /CREATE TABLE "Widget"/);
    assert.equal(await readFile(path.join(migrationsDir, SNAPSHOT_FILE), 'utf8'), SCHEMA_V1);
    assert.match(await readFile(path.join(migrationsDir, 'migration_lock.toml'), 'utf8'), /provider = "postgresql"/);
    await query("INSERT INTO \"Widget\" (id, name) VALUES ('w1', 'kept')");
  });

  it('applies nothing on a second run', async () => {
    const result = await migrate({ databaseUrl, schemaPath, migrationsDir, log: quiet });
    assert.equal(result.created, undefined);
    assert.deepEqual(result.applied, []);
  });

  it('fails the check when the schema changed, and writes nothing', async () => {
    await writeFile(schemaPath, SCHEMA_V2);
    const before = await readdir(migrationsDir);
    await assert.rejects(
      migrate({ databaseUrl, schemaPath, migrationsDir, check: true, log: quiet }),
      /changes no migration holds/,
    );
    assert.deepEqual(await readdir(migrationsDir), before);
  });

  it('creates a second migration for the change, keeping the data', async () => {
    const result = await migrate({ databaseUrl, schemaPath, migrationsDir, createName: 'add size', log: quiet });
    assert.match(result.created ?? '', /_add_size$/);
    const rows = await query('SELECT name, size FROM "Widget"');
    assert.deepEqual(rows, [{ name: 'kept', size: 0 }]);
    await migrate({ databaseUrl, schemaPath, migrationsDir, check: true, log: quiet });
  });

  it('applies hand-written SQL that splitting on ";" would break, atomically', async () => {
    const folder = path.join(migrationsDir, '29990101000000_hand_written');
    await mkdir(folder);
    const handWritten = `
      CREATE FUNCTION widget_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM "Widget"; $$;
      DO $$ BEGIN IF widget_count() = 1 THEN INSERT INTO "Widget" (id, name) VALUES ('w2', 'from DO; block'); END IF; END $$;`;
    await writeFile(path.join(folder, 'migration.sql'), handWritten);
    const result = await migrate({ databaseUrl, schemaPath, migrationsDir, log: quiet });
    assert.deepEqual(result.applied, ['29990101000000_hand_written']);
    assert.deepEqual(await query('SELECT widget_count()::int AS n'), [{ n: 2 }]);

    const broken = path.join(migrationsDir, '29990102000000_broken');
    await mkdir(broken);
    await writeFile(
      path.join(broken, 'migration.sql'),
      `INSERT INTO "Widget" (id, name) VALUES ('w3', 'x'); SELECT no_such_function();`,
    );
    await assert.rejects(migrate({ databaseUrl, schemaPath, migrationsDir, log: quiet }), /no_such_function/);
    assert.deepEqual(
      await query('SELECT id FROM "Widget" WHERE id = \'w3\''),
      [],
      'a failed migration left half its changes',
    );
  });

  it('records migrations as prisma migrate deploy does', async () => {
    const rows = await query(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY migration_name',
    );
    const done = rows.filter((r) => r.finished_at !== null);
    assert.equal(done.length, 3);
    for (const row of done) {
      const sql = await readFile(path.join(migrationsDir, row.migration_name, 'migration.sql'));
      assert.equal(row.checksum, createHash('sha256').update(sql).digest('hex'));
    }
  });
});
