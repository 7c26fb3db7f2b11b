// `npm start`: installs, builds, finds or starts Postgres and Redis, migrates, starts the
// gateway (which also serves the built dashboard) and a worker, seeds a demo tenant with
// sample datasets and prints how to call it.
//   Postgres: DATABASE_URL if reachable; else the local server at 127.0.0.1:5432; else an
//   embedded PGlite (no database install needed), kept under .data/pglite.
//   Redis: REDIS_URL if reachable; else 127.0.0.1:6379; else a local redis-server if one is
//   installed; else it stops and says how to get one.
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { build, ensureInstalled, ROOT, spawnChild, step, WORKER_MALLOC_ENV } from './lib/run.mjs';
import {
  applyMigrations,
  ensureDatabase,
  freePort,
  postgresProblem,
  redisAnswers,
  which,
  withDatabase,
  withUser,
} from './lib/services.mjs';

const DATA_DIR = path.join(ROOT, '.data');
mkdirSync(DATA_DIR, { recursive: true });
/** The processes' logs (request lines, warnings) go to files: the console keeps the steps and the banner. */
const LOGS = { gateway: path.join(DATA_DIR, 'gateway.log'), worker: path.join(DATA_DIR, 'worker.log') };
/** Access groups of the demo tenant; the sample datasets' `access_group`s name them. */
const DEMO_GROUPS = {
  kitchen: 'Recipes and cooking notes',
  engineering: 'Code and build notes',
  forecasting: 'Weather reports',
};
/** infra/demo/datasets/<name>.jsonl, uploaded as datasets of these names (weather first: see below). */
const DEMO_DATASETS = ['weather', 'recipes', 'code'];

ensureInstalled();
build();

const database = await findPostgres();
const redisUrl = await findRedis();

step('applying migrations');
await applyMigrations(database.ownerUrl, (line) => console.log(`  ${line}`));

const platformKey =
  process.env.PLATFORM_ADMIN_KEY ??
  persistentSecret('platform-admin-key', () => 'tpa_' + randomBytes(24).toString('base64url'));
const port = process.env.PORT ?? '8080';
step(`starting the gateway on port ${port}`);
const serviceEnv = (poolSize) => ({
  ...process.env,
  DATABASE_URL: database.appUrl,
  DATABASE_POOL_SIZE: database.embedded ? '1' : poolSize,
  REDIS_URL: redisUrl,
  // Local development only (never in docker or k8s): `npm run demo` receives its webhooks on
  // 127.0.0.1; the gateway checks the URL when it is registered, the worker at each delivery.
  WEBHOOK_ALLOW_PRIVATE: 'true',
});
const gatewayLog = openSync(LOGS.gateway, 'a');
const gateway = spawnChild(process.execPath, ['apps/gateway/dist/main.js'], {
  stdio: ['ignore', 'pipe', gatewayLog],
  env: {
    ...serviceEnv(process.env.DATABASE_POOL_SIZE ?? '10'),
    PLATFORM_ADMIN_KEY: platformKey,
    PORT: port,
    HOST: process.env.HOST ?? '127.0.0.1',
    // The build above made it; the gateway refuses a DASHBOARD_DIR without an index.html.
    DASHBOARD_DIR: path.join(ROOT, 'apps/dashboard/dist'),
  },
});
const url = await waitForListening(gateway);
// Embedded PGlite is one database session: a second process would share its transactions.
const worker = database.embedded
  ? null
  : (step('starting a worker (fine-tunes on the demo model)'),
    spawnChild(process.execPath, ['apps/worker/dist/main.js'], {
      stdio: ['ignore', openSync(LOGS.worker, 'a'), openSync(LOGS.worker, 'a')],
      env: {
        ...serviceEnv(process.env.WORKER_DATABASE_POOL_SIZE ?? '4'),
        ...WORKER_MALLOC_ENV,
        LOG_LEVEL: process.env.WORKER_LOG_LEVEL ?? 'info',
      },
    }));
if (!worker)
  console.log('  no worker: embedded PGlite serves one process; fine-tunes need a Postgres server (DATABASE_URL)');
const demo = await seedDemoTenant(url, platformKey);

console.log(`
Tessera is running.
  dashboard      ${url}/   (sign in with the demo API key)
  API            ${url}/v1   (OpenAPI: apps/gateway/openapi.json)
  health         ${url}/readyz
  demo tenant    ${demo.tenantId}
  demo API key   ${demo.apiKey}
  platform key   in .data/platform-admin-key (creates tenants: POST /v1/tenants)
  logs           .data/gateway.log${worker ? ', .data/worker.log' : ''}   (tail -f to follow requests and jobs)

Try:  curl -H "Authorization: Bearer ${demo.apiKey}" ${url}/v1/datasets
      ${url === 'http://127.0.0.1:8080' ? '' : `TESSERA_URL=${url} `}npm run demo   (fine-tunes, routes, deletes with a proof: the whole story in infra/scripts/demo.mjs)
Stop with Ctrl-C.`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    worker?.kill('SIGTERM');
    gateway.kill('SIGTERM');
  });
}
const exited = (child) =>
  new Promise((resolve) => (!child || child.exitCode !== null ? resolve() : child.once('exit', resolve)));
gateway.once('exit', async (code) => {
  if (worker && worker.exitCode === null) worker.kill('SIGTERM');
  await exited(worker);
  await database.stop?.();
  process.exit(code ?? 0);
});

async function findPostgres() {
  step('looking for Postgres');
  const candidates = process.env.DATABASE_URL
    ? [process.env.DATABASE_URL]
    : ['postgresql://postgres@127.0.0.1:5432/tessera'];
  for (const candidate of candidates) {
    const ownerUrl = process.env.MIGRATION_DATABASE_URL ?? candidate;
    if (!process.env.DATABASE_URL) {
      if (await postgresProblem(withDatabase(ownerUrl, 'postgres'))) continue;
      await ensureDatabase(ownerUrl);
    }
    const problem = await postgresProblem(ownerUrl);
    if (problem) {
      console.log(`  ${redact(ownerUrl)}: ${problem}`);
      continue;
    }
    console.log(`  using ${redact(ownerUrl)}`);
    // Given a DATABASE_URL, the gateway uses it as is; on the local server it runs as tessera_app.
    return { ownerUrl, appUrl: process.env.DATABASE_URL ?? withUser(ownerUrl, 'tessera_app'), embedded: false };
  }
  console.log('  no Postgres reachable: starting the embedded one (PGlite, data in .data/pglite)');
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create(path.join(DATA_DIR, 'pglite'));
  const pglitePort = await freePort();
  // PGlite is one session: one connection at a time keeps transactions apart.
  const server = new PGLiteSocketServer({ db, port: pglitePort, host: '127.0.0.1', maxConnections: 1 });
  await server.start();
  const url = `postgresql://postgres@127.0.0.1:${pglitePort}/postgres?sslmode=disable`;
  return { ownerUrl: url, appUrl: url, embedded: true, stop: async () => (await server.stop(), await db.close()) };
}

async function findRedis() {
  step('looking for Redis');
  const candidates = [process.env.REDIS_URL, 'redis://127.0.0.1:6379'].filter(Boolean);
  for (const candidate of candidates) {
    if (await redisAnswers(candidate)) {
      console.log(`  using ${redact(candidate)}`);
      return candidate;
    }
    console.log(`  ${redact(candidate)} does not answer`);
  }
  const server = which('redis-server');
  if (!server) {
    console.error(`No Redis is reachable and redis-server is not installed. Either:
  - install it:          apt-get install redis-server   (then run npm start again)
  - run it in Docker:    docker compose -f infra/docker-compose.yml up -d redis
  - point at one:        REDIS_URL=redis://host:6379 npm start`);
    process.exit(1);
  }
  const redisPort = await freePort();
  console.log(`  starting ${server} on port ${redisPort} (nothing kept on disk)`);
  spawnChild(server, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${redisPort}`;
  for (let i = 0; i < 50 && !(await redisAnswers(url)); i++) await new Promise((r) => setTimeout(r, 100));
  return url;
}

/** The gateway's URL once it listens; every line it prints goes on to its log file. */
function waitForListening(child) {
  const log = createWriteStream(LOGS.gateway, { flags: 'a' });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      log.write(`${line}\n`);
      const match = /"msg":"gateway listening","url":"([^"]+)"/.exec(line);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) =>
      reject(new Error(`the gateway exited with ${code} before listening: see ${path.relative(ROOT, LOGS.gateway)}`)),
    );
  });
}

/**
 * The demo tenant is made once through the API; its key is kept in .data so each start can
 * print it. Its groups and datasets are checked on every start and only the missing ones made,
 * so a tenant seeded by an older start gets them too.
 */
async function seedDemoTenant(url, platformKey) {
  const file = path.join(DATA_DIR, 'demo-tenant.json');
  const { createTesseraClient, listAll, MAX_PAGE_SIZE, TesseraProblemError, unwrap } = await import('@tessera/sdk');
  let saved = null;
  if (existsSync(file)) {
    saved = JSON.parse(readFileSync(file, 'utf8'));
    const demo = createTesseraClient({ baseUrl: url, apiKey: saved.apiKey });
    // Only a refused key means a new database; any other failure stops here, keeping the file.
    const refused = await demo.GET('/v1/me').then(
      () => false,
      (error) => {
        if (error instanceof TesseraProblemError && error.status === 401) return true;
        throw error;
      },
    );
    if (refused) {
      console.log('  the saved demo key no longer works (new database?): seeding again');
      saved = null;
    }
  }
  step('demo tenant: creating what it lacks (groups, sample datasets)');
  if (!saved) {
    const platform = createTesseraClient({ baseUrl: url, apiKey: platformKey });
    const created = await unwrap(platform.POST('/v1/tenants', { body: { name: 'Demo' } }));
    saved = { tenantId: created.tenant.id, apiKey: created.api_key.secret };
    // Saved before the rest, so a start that fails halfway resumes with this tenant, not a new one.
    writeFileSync(file, JSON.stringify(saved, null, 2), { mode: 0o600 });
  }
  const demo = createTesseraClient({ baseUrl: url, apiKey: saved.apiKey });
  const all = (path) => listAll((after) => demo.GET(path, { params: { query: { after, limit: MAX_PAGE_SIZE } } }));
  const groups = new Set((await all('/v1/groups')).map((g) => g.name));
  for (const [name, description] of Object.entries(DEMO_GROUPS)) {
    if (!groups.has(name)) await unwrap(demo.POST('/v1/groups', { body: { name, description } }));
  }
  const datasets = await all('/v1/datasets');
  // Uploaded in this order, the weather documents are the tenant's oldest never-trained ones:
  // the baseline of unseen text a deletion's proof compares with (the demo trains recipes and code).
  for (const name of DEMO_DATASETS) {
    const existing = datasets.find((d) => d.name === name);
    if (existing?.status === 'ready') continue;
    // A start stopped mid-upload left the dataset without content: fill that one in.
    const dataset = existing ?? (await unwrap(demo.POST('/v1/datasets', { body: { name, format: 'text' } })));
    const content = readFileSync(path.join(ROOT, 'infra/demo/datasets', `${name}.jsonl`), 'utf8');
    const uploaded = await unwrap(
      demo.PUT('/v1/datasets/{dataset_id}/content', {
        params: { path: { dataset_id: dataset.id } },
        body: content,
        headers: { 'content-type': 'application/x-ndjson' },
        bodySerializer: (body) => body,
      }),
    );
    console.log(`  dataset ${name}: ${uploaded.document_count} documents, ${uploaded.token_count} tokens`);
  }
  return saved;
}

function persistentSecret(name, make) {
  const file = path.join(DATA_DIR, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = make();
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

function redact(url) {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
