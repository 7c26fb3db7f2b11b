// `npm run db:migrate [-- --name <name>] [--check] [--no-create]`
// Connects with MIGRATION_DATABASE_URL (the owner), else DATABASE_URL. With
// TESSERA_APP_PASSWORD set, also gives the tessera_app role that password (for servers
// that do not trust local connections, e.g. the compose file's Postgres).
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { migrate } from './migrate.js';

const ROOT = path.resolve(import.meta.dirname, '../../../..');

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    check: { type: 'boolean', default: false },
    'no-create': { type: 'boolean', default: false },
  },
});
const databaseUrl = process.env.MIGRATION_DATABASE_URL ?? process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error("Set MIGRATION_DATABASE_URL (or DATABASE_URL) to the database owner's connection.");
  process.exit(2);
}

try {
  await migrate({
    databaseUrl,
    schemaPath: path.join(ROOT, 'prisma/schema.prisma'),
    migrationsDir: path.join(ROOT, 'prisma/migrations'),
    create: !values['no-create'],
    check: values.check,
    ...(values.name ? { createName: values.name } : {}),
  });
  const password = process.env.TESSERA_APP_PASSWORD;
  if (password && !values.check) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const { rows } = await client.query<{ sql: string }>(
      "SELECT format('ALTER ROLE tessera_app WITH LOGIN PASSWORD %L', $1::text) AS sql",
      [password],
    );
    await client.query(rows[0]!.sql);
    await client.end();
    console.log('set the password of role tessera_app');
  }
} catch (error) {
  console.error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
