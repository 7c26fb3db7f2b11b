// The Postgres database and Redis db the process benchmarks run against: a fresh
// `tessera_bench` database with every migration, and Redis db 14 (tests use 15).
import { step } from '../../infra/scripts/lib/run.mjs';
import {
  applyMigrations,
  ensureDatabase,
  postgresProblem,
  redisAnswers,
  withDatabase,
  withUser,
} from '../../infra/scripts/lib/services.mjs';

export async function prepareBenchServices() {
  const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const ownerUrl = withDatabase(adminUrl, 'tessera_bench');
  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14';
  if ((await postgresProblem(adminUrl)) || !(await redisAnswers(redisUrl)))
    throw new Error(`needs Postgres at ${adminUrl} and Redis at ${redisUrl}`);
  step('preparing the bench database');
  await ensureDatabase(ownerUrl, { recreate: true });
  await applyMigrations(ownerUrl);
  return { appUrl: withUser(ownerUrl, 'tessera_app'), redisUrl };
}
