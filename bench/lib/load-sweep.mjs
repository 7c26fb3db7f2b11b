// Latency under load (issue 19), at the engine and through the gateway. For each level a
// closed-loop probe first finds the saturation throughput of its request mix; then open-loop
// runs at fractions of it, from light load to past saturation, report throughput, TTFT,
// inter-token latency, end-to-end latency and goodput at the SLO (load-generator.mjs).
import os from 'node:os';
import { step } from '../../infra/scripts/lib/run.mjs';
import { engineLoadTarget } from './engine-load-target.mjs';
import { gatewayLoadTarget } from './gateway-load-target.mjs';
import { checkMeasured, DEFAULT_SLO, runClosedLoop, runOpenLoop, servingMetrics, workload } from './load-generator.mjs';

const TARGETS = { engine: engineLoadTarget, gateway: gatewayLoadTarget };

/**
 * How much load: the warm-up's requests (first passes, the worker's model load), the probe's, the rates as fractions of the probed saturation, and
 * each point's requests (its rate × pointSeconds, within min..max: light points stay short,
 * those past saturation queue a bounded backlog).
 */
const PLANS = {
  full: {
    warmupRequests: 16,
    probeRequests: 96,
    fractions: [0.25, 0.5, 0.75, 1, 1.25, 1.5],
    pointSeconds: 30,
    minRequests: 30,
    maxRequests: 200,
  },
  quick: {
    warmupRequests: 8,
    probeRequests: 16,
    fractions: [0.5, 1.2],
    pointSeconds: 5,
    minRequests: 10,
    maxRequests: 20,
  },
};

/** The workload seeds: the warm-up's, the probe's, and the points' (one seed, so every point draws the same requests in order). */
const SEEDS = { warmup: 0, probe: 1, points: 2 };

/**
 * loadSweep's options from the environment: SERVING_LOAD_QUICK=1 (or BENCH_QUICK=1) a smoke
 * run; SERVING_LOAD_LEVELS engine,gateway; SERVING_LOAD_MODEL the engine level's model;
 * SERVING_LOAD_ADAPTERS K (default 256); SERVING_LOAD_ZIPF_S; SERVING_SLO_TTFT_S and
 * SERVING_SLO_ITL_P99_S; BENCH_THREADS.
 */
export function loadSweepOptions(env) {
  const quick = env.SERVING_LOAD_QUICK === '1' || env.BENCH_QUICK === '1';
  return {
    quick,
    levels: (env.SERVING_LOAD_LEVELS ?? 'engine,gateway').split(','),
    model: env.SERVING_LOAD_MODEL ?? 'llama-d512-l8',
    adapters: Number(env.SERVING_LOAD_ADAPTERS ?? (quick ? 32 : 256)),
    zipfS: Number(env.SERVING_LOAD_ZIPF_S ?? 1.1),
    slo: {
      ttft_s: Number(env.SERVING_SLO_TTFT_S ?? DEFAULT_SLO.ttft_s),
      itl_p99_s: Number(env.SERVING_SLO_ITL_P99_S ?? DEFAULT_SLO.itl_p99_s),
    },
    threads: Number(env.BENCH_THREADS ?? os.availableParallelism()),
  };
}

/**
 * `{ load: { engine, gateway }, goodput_rps }`: each level's sweep, and the engine level's
 * best goodput over the swept rates (with the model it was measured on).
 */
export async function loadSweep(engine, options) {
  const unknown = options.levels.filter((level) => !TARGETS[level]);
  if (unknown.length) throw new Error(`unknown load levels ${unknown.join(', ')}: ${Object.keys(TARGETS).join(', ')}`);
  const plan = options.quick ? PLANS.quick : PLANS.full;
  const load = {};
  for (const level of options.levels) {
    step(`load sweep, ${level}: setting up`);
    const target = await TARGETS[level](engine, options);
    try {
      load[level] = await sweep(engine, level, target, plan, options.slo);
    } catch (error) {
      // The end of what the processes printed: the cause is there, after any repeated warnings.
      if (target.output) console.error(target.output().slice(-20_000));
      throw error;
    } finally {
      await target.close();
    }
  }
  if (!load.engine) return { load };
  const best = load.engine.points.reduce((a, b) => (b.goodput_rps > a.goodput_rps ? b : a));
  return {
    load,
    goodput_rps: best.goodput_rps,
    goodput_rps_at: { level: 'engine', model: load.engine.model.name, rate: best.rate, slo: options.slo },
  };
}

async function sweep(engine, level, target, plan, slo) {
  const requestsOf = (requests, rate, seed) =>
    workload({ requests, rate, ...target.workload, seed }, engine.seededRandom);
  step(`load sweep, ${level}: warming up, ${plan.warmupRequests} requests`);
  const warmupRun = target.start();
  await runClosedLoop(requestsOf(plan.warmupRequests, 1, SEEDS.warmup), warmupRun.send, 4);
  // Saturation: as many clients as keep the batch full and as many queued.
  step(`load sweep, ${level}: closed-loop probe, ${plan.probeRequests} requests, ${target.concurrency} clients`);
  const probeRequests = requestsOf(plan.probeRequests, 1, SEEDS.probe);
  const probeRun = target.start();
  const probe = await runClosedLoop(probeRequests, probeRun.send, target.concurrency);
  checkMeasured(probe.records, { requests: plan.probeRequests, exactLengths: target.exactLengths });
  probeRun.check(probeRequests);
  const saturation = probe.throughput_rps;
  step(`load sweep, ${level}: saturation ${saturation.toFixed(2)} requests/s`);

  const points = [];
  for (const fraction of plan.fractions) {
    const rate = roundTo(fraction * saturation, 3);
    const count = Math.min(plan.maxRequests, Math.max(plan.minRequests, Math.round(rate * plan.pointSeconds)));
    const requests = requestsOf(count, rate, SEEDS.points);
    const run = target.start();
    const records = await runOpenLoop(requests, run.send);
    checkMeasured(records, { requests: count, exactLengths: target.exactLengths });
    const point = rounded({
      rate,
      saturation_fraction: fraction,
      ...servingMetrics(records, slo),
      ...run.check(requests),
    });
    points.push(point);
    step(
      `load sweep, ${level}: ${rate} requests/s offered, ${count} requests: ${point.throughput_rps} done/s, TTFT p99 ${point.ttft_p99_s} s, ITL p99 ${point.itl_p99_s} s, goodput ${point.goodput_rps}/s`,
    );
  }
  return {
    ...target.describe,
    workload: {
      prompt_mix: target.workload.promptMix,
      output_mix: target.workload.outputMix,
      exact_lengths: target.exactLengths,
      arrivals: 'Poisson (exponential gaps), open loop',
      point_requests: `rate × ${plan.pointSeconds} s, within ${plan.minRequests}..${plan.maxRequests}`,
      seed: SEEDS.points,
    },
    slo,
    saturation: rounded({
      closed_loop_rps: saturation,
      clients: target.concurrency,
      requests: plan.probeRequests,
      output_tps: probe.records.reduce((sum, r) => sum + r.outputTokens, 0) / probe.duration_s,
    }),
    points,
  };
}

/** The load table, one row per swept rate and level; latencies in ms. */
export function printLoadTable(load) {
  const ms = (s) => (s === null ? '' : (s * 1000).toFixed(1));
  console.log(
    '\n| level | offered req/s | completed | req/s | out tok/s | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 | E2E p50 | E2E p99 | goodput req/s |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [level, sweep] of Object.entries(load))
    for (const p of sweep.points)
      console.log(
        `| ${level} | ${p.rate} | ${p.completed} | ${p.throughput_rps} | ${p.output_tps} | ${ms(p.ttft_p50_s)} | ${ms(p.ttft_p99_s)} | ${ms(p.itl_p50_s)} | ${ms(p.itl_p99_s)} | ${ms(p.e2e_p50_s)} | ${ms(p.e2e_p99_s)} | ${p.goodput_rps} |`,
      );
  for (const [level, sweep] of Object.entries(load))
    console.log(
      `${level}: ${sweep.model.name}, ${sweep.adapters.count} adapters (Zipf s=${sweep.adapters.zipf_s}), saturation ${sweep.saturation.closed_loop_rps} req/s; SLO TTFT ≤ ${sweep.slo.ttft_s} s and per-request ITL p99 ≤ ${sweep.slo.itl_p99_s} s`,
    );
}

/** Every non-integer number to 4 significant digits: the JSON stays readable. */
function rounded(figures) {
  return Object.fromEntries(
    Object.entries(figures).map(([key, value]) => [
      key,
      typeof value === 'number' && !Number.isInteger(value) ? roundTo(value, 4) : value,
    ]),
  );
}

function roundTo(value, digits) {
  return Number(value.toPrecision(digits));
}
