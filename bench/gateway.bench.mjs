// Gateway overhead: authenticated, tenant-scoped GET /v1/groups (auth lookup, rate limit in
// Redis, RLS transaction in Postgres, Nest pipeline) against a bare Fastify route serving
// the same JSON from memory. Both run as their own process; autocannon drives them in turn,
// alternating rounds so drift on a shared machine hits both alike.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import autocannon from 'autocannon';
import { build, ensureInstalled, ROOT } from '../infra/scripts/lib/run.mjs';
import { prepareBenchServices } from './lib/bench-services.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const PLATFORM_KEY = 'bench-platform-admin-key-0123456789';

export default async function gatewayBench() {
  ensureInstalled();
  build();
  const { appUrl, redisUrl } = await prepareBenchServices();

  const gateway = await startProcess('apps/gateway/dist/main.js', {
    DATABASE_URL: appUrl,
    REDIS_URL: redisUrl,
    PLATFORM_ADMIN_KEY: PLATFORM_KEY,
    PORT: '0',
    LOG_LEVEL: 'warn',
  });
  const { createTesseraClient, unwrap } = await import('@tessera/sdk');
  const platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
  const tenant = await unwrap(platform.POST('/v1/tenants', { body: { name: 'bench' } }));
  const admin = createTesseraClient({ baseUrl: gateway.url, apiKey: tenant.api_key.secret });
  const key = await unwrap(
    admin.POST('/v1/api-keys', { body: { name: 'bench', scopes: ['read'], rate_limit_per_minute: 1_000_000 } }),
  );
  for (let i = 0; i < 10; i++)
    await unwrap(admin.POST('/v1/groups', { body: { name: `group-${i}`, description: `bench group ${i}` } }));
  // Another tenant's rows in the same table, so RLS and the tenant filter have something to exclude.
  const other = await unwrap(platform.POST('/v1/tenants', { body: { name: 'bench neighbour' } }));
  const neighbour = createTesseraClient({ baseUrl: gateway.url, apiKey: other.api_key.secret });
  for (let i = 0; i < 10; i++) await unwrap(neighbour.POST('/v1/groups', { body: { name: `other-${i}` } }));

  const headers = { authorization: `Bearer ${key.secret}` };
  const body = await (await fetch(`${gateway.url}/v1/groups`, { headers })).text();
  const bare = await startProcess('bench/bare-server.mjs', { BENCH_BODY: body });

  // The two compared, then two partial paths of the gateway that show where its time goes.
  const targets = {
    bare: { url: `${bare.url}/v1/groups`, headers: {} },
    gateway: { url: `${gateway.url}/v1/groups`, headers },
    healthz: { url: `${gateway.url}/healthz`, headers: {} },
    me: { url: `${gateway.url}/v1/me`, headers },
  };
  const rounds = Object.fromEntries(Object.keys(targets).map((name) => [name, []]));
  try {
    for (const target of Object.values(targets)) await load(target, 2); // warm-up: JIT, pools
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, target] of Object.entries(targets)) {
        const result = await load(target, DURATION_S);
        rounds[name].push(result);
        console.log(`  round ${round} ${name.padEnd(8)} ${fmt(result)}`);
      }
    }
  } finally {
    await Promise.all([gateway.stop(), bare.stop()]);
  }
  const tenantRead = await compareTenantReads(appUrl, tenant.tenant.id);

  const summary = Object.fromEntries(Object.entries(rounds).map(([name, results]) => [name, median(results)]));
  // autocannon's latencies are whole milliseconds: a bare route's p50 is 0, so latency is
  // compared as the time the gateway adds rather than as a ratio.
  const ratio = {
    throughput_gateway_over_bare: round3(summary.gateway.requests_per_second / summary.bare.requests_per_second),
    p50_added_ms: summary.gateway.latency_p50_ms - summary.bare.latency_p50_ms,
    p99_added_ms: summary.gateway.latency_p99_ms - summary.bare.latency_p99_ms,
  };
  const report = {
    benchmark: 'gateway',
    what: 'authenticated tenant-scoped GET /v1/groups (10 rows of 20 in the table) vs a bare Fastify route serving the same JSON from memory',
    paths: {
      bare: 'bare Fastify, same JSON from memory',
      gateway: 'GET /v1/groups: Nest + auth lookup (cached) + Redis rate limit + RLS-scoped query in one round trip',
      healthz: 'GET /healthz: Nest + Fastify only',
      me: 'GET /v1/me: Nest + auth lookup (cached) + Redis rate limit, no database',
    },
    measured_at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
    settings: { rounds: ROUNDS, duration_s: DURATION_S, connections: CONNECTIONS, log_level: 'warn', pipelining: 1 },
    median_of_rounds: summary,
    ratio,
    rounds,
    tenant_read: tenantRead,
  };
  mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench/results/gateway.json'), JSON.stringify(report, null, 2) + '\n');
  const row = (label, r) =>
    `  ${label.padEnd(22)} ${String(r.requests_per_second).padEnd(10)} ${String(r.latency_p50_ms).padEnd(8)} ${r.latency_p99_ms}`;
  console.log(`
                         req/s      p50 ms   p99 ms
${row('bare Fastify', summary.bare)}
${row('gateway /v1/groups', summary.gateway)}
${row('  of which /healthz', summary.healthz)}
${row('  of which /v1/me', summary.me)}
  gateway/bare throughput ${ratio.throughput_gateway_over_bare}; latency added: p50 +${ratio.p50_added_ms} ms, p99 +${ratio.p99_added_ms} ms
  the same tenant read in process: ${tenantRead.reads_per_second.interactive_transaction}/s in an interactive transaction, ${tenantRead.reads_per_second.one_round_trip}/s in one round trip (${tenantRead.one_round_trip_over_transaction}x)
  written to bench/results/gateway.json`);
}

/**
 * The gateway's tenant-scoped read at the database layer, both ways, alternating rounds in one
 * process: an interactive transaction (BEGIN with the scope, query, COMMIT: two round trips and
 * Prisma's transaction machinery) against `readAsTenant` (scope and query in one round trip).
 * Each read must return the tenant's 10 groups, so neither can measure an empty answer.
 */
async function compareTenantReads(appUrl, tenantId) {
  const { Database } = await import('@tessera/db');
  const database = new Database({ connectionString: appUrl, maxConnections: 10 });
  const read = (tx) => tx.accessGroup.findMany({ where: { tenantId }, orderBy: { id: 'asc' }, take: 21 });
  const ways = {
    interactive_transaction: () => database.withTenant({ tenantId }, read),
    one_round_trip: () => database.readAsTenant({ tenantId }, read),
  };
  const perRound = Object.fromEntries(Object.keys(ways).map((name) => [name, []]));
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [name, way] of Object.entries(ways)) {
        let reads = 0;
        const end = performance.now() + (round === 0 ? 1_000 : 3_000); // round 0 warms up
        await Promise.all(
          Array.from({ length: CONNECTIONS }, async () => {
            while (performance.now() < end) {
              const rows = await way();
              if (rows.length !== 10) throw new Error(`${name} read ${rows.length} groups, not the tenant's 10`);
              reads++;
            }
          }),
        );
        if (round > 0) perRound[name].push(Math.round(reads / 3));
      }
    }
  } finally {
    await database.disconnect();
  }
  const medianOf = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const readsPerSecond = Object.fromEntries(Object.entries(perRound).map(([name, v]) => [name, medianOf(v)]));
  return {
    what: `${CONNECTIONS} concurrent readers, ${ROUNDS} rounds of 3 s alternating, median`,
    reads_per_second: readsPerSecond,
    one_round_trip_over_transaction: round3(readsPerSecond.one_round_trip / readsPerSecond.interactive_transaction),
    rounds: perRound,
  };
}

async function load(target, durationS) {
  const result = await autocannon({
    url: target.url,
    headers: target.headers,
    connections: CONNECTIONS,
    duration: durationS,
  });
  const non2xx = result.non2xx + result.errors + result.timeouts;
  if (non2xx > 0) throw new Error(`${target.url}: ${non2xx} failed requests of ${result.requests.total}`);
  return {
    requests_per_second: Math.round(result.requests.average),
    latency_p50_ms: result.latency.p50,
    latency_p99_ms: result.latency.p99,
    requests: result.requests.total,
  };
}

function median(results) {
  const pick = (key) => [...results].map((r) => r[key]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
  return {
    requests_per_second: pick('requests_per_second'),
    latency_p50_ms: pick('latency_p50_ms'),
    latency_p99_ms: pick('latency_p99_ms'),
  };
}

function startProcess(script, env) {
  const child = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => child.exitCode === null && child.kill('SIGTERM'));
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = /"url":"([^"]+)"/.exec(line);
      if (match) {
        resolve({
          url: match[1],
          stop: () =>
            new Promise((done) =>
              child.exitCode !== null ? done() : (child.once('exit', done), child.kill('SIGTERM')),
            ),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

const fmt = (r) =>
  `${String(r.requests_per_second).padStart(7)} req/s  p50 ${r.latency_p50_ms} ms  p99 ${r.latency_p99_ms} ms`;
const round3 = (x) => Math.round(x * 1000) / 1000;
