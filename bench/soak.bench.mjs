// Soak: the platform (gateway and worker as processes, Postgres, Redis) under a steady open-loop
// mix of reads, writes, completions and streams at 70% of the capacity measured first, for
// SOAK_DURATION_S (default one hour). Reports the errors, each route's p50/p99 per minute, and
// the resident memory and event-loop delay of gateway and worker sampled every 10 s from the
// gateway's /metrics (the worker's arrive with its heartbeat), with the least-squares slope of
// each process's memory in MiB per hour. Writes bench/results/soak.json and soak.svg.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, ensureInstalled, ROOT, step } from '../infra/scripts/lib/run.mjs';
import { startPlatform, streamCompletion } from './lib/bench-platform.mjs';
import { percentile } from './lib/engine-common.mjs';
import { figure } from './lib/svg-plot.mjs';

const DURATION_S = Number(process.env.SOAK_DURATION_S ?? 3600);
const CAPACITY_S = Number(process.env.SOAK_CAPACITY_S ?? 30);
const SAMPLE_EVERY_S = 10;
const LOAD_SHARE = 0.7;
/** The mix, by weight: tenant-scoped reads, writes (a group created and deleted), completions, streams. */
const MIX = [
  { route: 'read', weight: 4 },
  { route: 'write', weight: 2 },
  { route: 'completion', weight: 2 },
  { route: 'stream', weight: 2 },
];

export default async function soakBench() {
  ensureInstalled();
  build();
  const { seededRandom } = await import('../libs/engine/dist/index.js');
  const platform = await startPlatform({ gatewayEnv: { RATE_LIMIT_PER_MINUTE: '10000000' } });
  const random = seededRandom(7);
  try {
    const call = (method, route, body) =>
      fetch(`${platform.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${platform.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    for (let i = 0; i < 10; i++) await expect(call('POST', '/v1/groups', { name: `soak-${i}` }), 201);
    let written = 0;
    const operations = {
      read: () => expect(call('GET', '/v1/groups?limit=10'), 200),
      write: async () => {
        const created = await expect(call('POST', '/v1/groups', { name: `w-${process.pid}-${written++}` }), 201);
        await expect(call('DELETE', `/v1/groups/${(await created.json()).id}`), 204);
      },
      completion: async () => {
        const response = await expect(call('POST', '/v1/completions', completionBody(random)), 200);
        if (!((await response.json()).usage.completion_tokens >= 0)) throw new Error('a completion without usage');
      },
      stream: async () => {
        let pieces = 0;
        const { completionTokens } = await streamCompletion(platform, completionBody(random), () => pieces++);
        if (completionTokens > 0 && pieces === 0) throw new Error('a stream of tokens sent no text');
      },
    };
    const pick = () => {
      let u = random() * MIX.reduce((sum, m) => sum + m.weight, 0);
      return MIX.find((m) => (u -= m.weight) < 0)?.route ?? MIX.at(-1).route;
    };

    step(`capacity: 16 clients back to back for ${CAPACITY_S} s`);
    let done = 0;
    const until = performance.now() + CAPACITY_S * 1000;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (performance.now() < until) {
          await operations[pick()]();
          done++;
        }
      }),
    );
    const capacity = done / CAPACITY_S;
    const rate = LOAD_SHARE * capacity;
    step(`soak: ${rate.toFixed(1)} operations/s (70% of ${capacity.toFixed(1)}) for ${DURATION_S} s`);

    const records = [];
    const samples = [];
    const started = performance.now();
    const elapsed = () => (performance.now() - started) / 1000;
    const sampler = setInterval(() => {
      const at = elapsed();
      void fetch(`${platform.url}/metrics`)
        .then((r) => r.text())
        .then((text) => samples.push({ at, ...vitals(text) }))
        .catch(() => undefined);
    }, SAMPLE_EVERY_S * 1000);
    const pending = [];
    for (let next = 0; next < DURATION_S; next += -Math.log(1 - random()) / rate) {
      const wait = next - elapsed();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      const route = pick();
      const at = elapsed();
      pending.push(
        operations[route]().then(
          () => records.push({ route, at, ms: (elapsed() - at) * 1000, ok: true }),
          (error) => records.push({ route, at, ms: (elapsed() - at) * 1000, ok: false, error: String(error) }),
        ),
      );
    }
    await Promise.all(pending);
    clearInterval(sampler);
    // The processes' own account of any error, for whoever reads the result.
    if (process.env.SOAK_LOG) writeFileSync(process.env.SOAK_LOG, platform.output());

    // What was measured is what it says: every route ran, and the vitals were sampled throughout.
    for (const { route } of MIX)
      if (!records.some((r) => r.route === route && r.ok)) throw new Error(`no ${route} succeeded`);
    if (samples.length < Math.floor(DURATION_S / SAMPLE_EVERY_S) - 2)
      throw new Error(`${samples.length} samples over ${DURATION_S} s`);
    if (samples.some((s) => s.worker_rss_mib === null)) throw new Error("a sample without the worker's vitals");

    const failures = records.filter((r) => !r.ok);
    const minutes = Math.ceil(DURATION_S / 60);
    const perMinute = Object.fromEntries(
      MIX.map(({ route }) => [
        route,
        Array.from({ length: minutes }, (_, m) => {
          const ms = records.filter((r) => r.route === route && r.ok && Math.floor(r.at / 60) === m).map((r) => r.ms);
          return {
            minute: m,
            count: ms.length,
            p50_ms: round(percentile(ms, 0.5)),
            p99_ms: round(percentile(ms, 0.99)),
          };
        }),
      ]),
    );
    const result = {
      benchmark: 'soak',
      duration_s: DURATION_S,
      capacity_ops_per_s: round(capacity),
      rate_ops_per_s: round(rate),
      mix: MIX,
      operations: records.length,
      errors: failures.length,
      first_errors: failures.slice(0, 5).map((f) => `${f.route} at ${round(f.at)} s: ${f.error}`),
      routes: Object.fromEntries(
        MIX.map(({ route }) => {
          const ms = records.filter((r) => r.route === route && r.ok).map((r) => r.ms);
          return [route, { count: ms.length, p50_ms: round(percentile(ms, 0.5)), p99_ms: round(percentile(ms, 0.99)) }];
        }),
      ),
      gateway: processFigures(samples, 'gateway'),
      worker: processFigures(samples, 'worker'),
      per_minute: perMinute,
      samples,
    };
    writeFileSync(path.join(ROOT, 'bench/results/soak.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(path.join(ROOT, 'bench/results/soak.svg'), soakFigure(result));
    console.log(
      `soak ${DURATION_S} s at ${rate.toFixed(1)} ops/s: ${records.length} operations, ${failures.length} errors; ` +
        `RSS slope gateway ${result.gateway.rss_slope_mib_per_hour} MiB/h, worker ${result.worker.rss_slope_mib_per_hour} MiB/h`,
    );
  } catch (error) {
    console.error(platform.output());
    throw error;
  } finally {
    await platform.stop();
  }
}

function completionBody(random) {
  return {
    model: 'tessera-demo',
    prompt: 'the sky over oslo is',
    max_tokens: 16,
    temperature: 0.8,
    seed: Math.floor(random() * 1e6),
  };
}

async function expect(responding, status) {
  const response = await responding;
  if (response.status !== status) throw new Error(`${response.status} (wanted ${status}): ${await response.text()}`);
  return response;
}

/** From a /metrics scrape: the gateway's RSS and event-loop lag (prom-client's defaults), the worker's from its heartbeat. */
function vitals(text) {
  const value = (pattern) => {
    const match = pattern.exec(text);
    return match ? Number(match[1]) : null;
  };
  const mib = (bytes) => (bytes === null ? null : round(bytes / 2 ** 20));
  const ms = (seconds) => (seconds === null ? null : round(seconds * 1000));
  return {
    gateway_rss_mib: mib(value(/^tessera_process_resident_memory_bytes (\S+)$/m)),
    gateway_event_loop_p99_ms: ms(value(/^tessera_nodejs_eventloop_lag_p99_seconds (\S+)$/m)),
    worker_rss_mib: mib(value(/^tessera_worker_resident_memory_bytes\{[^}]*\} (\S+)$/m)),
    worker_event_loop_p99_ms: ms(value(/^tessera_worker_event_loop_delay_seconds\{[^}]*stat="p99"[^}]*\} (\S+)$/m)),
    gateway_db_pool_idle: value(/^tessera_db_pool_connections\{state="idle"\} (\S+)$/m),
    gateway_db_pool_waiting: value(/^tessera_db_pool_connections\{state="waiting"\} (\S+)$/m),
  };
}

/** A process's memory over the run: first, last, peak and the least-squares slope in MiB per hour. */
function processFigures(samples, name) {
  const points = samples.map((s) => [s.at, s[`${name}_rss_mib`]]).filter(([, y]) => y !== null);
  const lags = samples.map((s) => s[`${name}_event_loop_p99_ms`]).filter((v) => v !== null);
  return {
    rss_mib_first: points[0]?.[1] ?? null,
    rss_mib_last: points.at(-1)?.[1] ?? null,
    rss_mib_peak: Math.max(...points.map(([, y]) => y)),
    rss_slope_mib_per_hour: round(slope(points) * 3600),
    event_loop_p99_ms_median: round(percentile(lags, 0.5)),
    event_loop_p99_ms_max: round(Math.max(...lags)),
  };
}

function slope(points) {
  const n = points.length;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / n;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const sxy = points.reduce((sum, [x, y]) => sum + (x - mx) * (y - my), 0);
  const sxx = points.reduce((sum, [x]) => sum + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

function soakFigure(result) {
  const minutes = (key, route) => result.per_minute[route].map((m) => [m.minute + 1, m[key]]);
  const over = (key) => result.samples.map((s) => [s.at / 60, s[key]]);
  const time = { label: 'minutes' };
  return figure(
    `Soak: ${result.rate_ops_per_s} operations/s for ${Math.round(result.duration_s / 60)} min, ${result.errors} errors`,
    [
      {
        title: 'p99 latency per minute',
        x: time,
        y: { label: 'ms', log: true },
        series: MIX.map(({ route }) => ({ name: route, points: minutes('p99_ms', route) })),
      },
      {
        title: 'Resident memory',
        x: time,
        y: { label: 'MiB' },
        series: [
          { name: 'gateway', points: over('gateway_rss_mib') },
          { name: 'worker', points: over('worker_rss_mib') },
        ],
      },
      {
        title: 'Event-loop delay p99',
        x: time,
        y: { label: 'ms' },
        series: [
          { name: 'gateway', points: over('gateway_event_loop_p99_ms') },
          { name: 'worker', points: over('worker_event_loop_p99_ms') },
        ],
      },
    ],
  );
}

const round = (x) => Math.round(x * 10) / 10;
