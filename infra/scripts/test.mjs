// `npm test`: builds, prepares a fresh test database and Redis db, then runs every test
// tier: the dashboard's component tests (Vitest, jsdom), then with node's test runner unit
// (*.spec), integration (*.int-spec, real Postgres and Redis) and end-to-end (e2e/: gateway
// and worker as processes, and the dashboard in headless Chromium).
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { build, ensureInstalled, ROOT, run, step } from './lib/run.mjs';
import {
  applyMigrations,
  ensureDatabase,
  postgresProblem,
  redisAnswers,
  withDatabase,
  withUser,
} from './lib/services.mjs';

ensureInstalled();
build();

const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const ownerUrl = withDatabase(adminUrl, process.env.TEST_DATABASE_NAME ?? 'tessera_test');
const appUrl = process.env.TEST_DATABASE_APP_URL ?? withUser(ownerUrl, 'tessera_app');
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

step(`preparing test database ${new URL(ownerUrl).pathname.slice(1)} and Redis ${redisUrl}`);
const problem = await postgresProblem(adminUrl);
if (problem) {
  console.error(
    `Postgres is not reachable at ${adminUrl}: ${problem}\nStart it (e.g. pg_ctlcluster 15 main start) or set TEST_DATABASE_ADMIN_URL.`,
  );
  process.exit(1);
}
if (!(await redisAnswers(redisUrl))) {
  console.error(`Redis does not answer at ${redisUrl}. Start redis-server or set TEST_REDIS_URL.`);
  process.exit(1);
}
await ensureDatabase(ownerUrl, { recreate: true });
await applyMigrations(ownerUrl);
const { Redis } = await import('ioredis');
const redis = new Redis(redisUrl);
await redis.flushdb();
redis.disconnect();

step('dashboard component tests (Vitest)');
run('npx', ['vitest', 'run'], { cwd: path.join(ROOT, 'apps/dashboard') });

const testFiles = [
  ...findFiles(['libs', 'apps'], /\.(spec|int-spec)\.js$/),
  ...findFiles(['e2e'], /\.e2e-spec\.js$/),
  // The benchmarks' own parts (load generator, plots): plain .mjs, no dist/.
  ...findFiles(['bench'], /\.test\.mjs$/, { inDist: false }),
];
step(`running ${testFiles.length} test files`);
run(process.execPath, ['--test', '--test-concurrency=2', ...testFiles], {
  env: {
    ...process.env,
    TEST_DATABASE_URL: appUrl,
    TEST_OWNER_DATABASE_URL: ownerUrl,
    TEST_REDIS_URL: redisUrl,
  },
});

/** Test files under each top folder: in its projects' dist/ directories, or anywhere with inDist false. */
function findFiles(tops, pattern, { inDist = true } = {}) {
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir)) {
      if (entry === 'node_modules') continue;
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) walk(full);
      else if (pattern.test(entry) && (!inDist || full.split(path.sep).includes('dist')))
        found.push(path.relative(ROOT, full));
    }
  };
  for (const top of tops) walk(path.join(ROOT, top));
  return found.sort();
}
