import path from 'node:path';
import { defineConfig } from 'prisma/config';

// The URL is only read by CLI commands that connect; `prisma generate` needs none.
// Migrations run through `npm run db:migrate` (libs/db/src/migrate), not the native engine.
export default defineConfig({
  schema: path.join(import.meta.dirname, 'schema.prisma'),
  migrations: { path: path.join(import.meta.dirname, 'migrations') },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/tessera' },
});
