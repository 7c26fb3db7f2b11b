// Serving speed before and after issue 19 (KV cache in blocks the graph reads in place, logits
// at the last position only, prefix cache), side by side in one run: the engine as it was is
// built from git into a temporary worktree, the engine as it is comes from this checkout, and
// both run the same workloads at the TinyLlama-1.1B shape from one weight file, each engine in
// a child process of its own (serving-speed-child.mjs) so that RSS and JIT do not mix.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, statfs, symlink, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, run, step } from '../../infra/scripts/lib/run.mjs';
import { childTask, LLAMA_D512_L8, median, PEFT_DEFAULT_TARGETS } from './engine-common.mjs';
import { memAvailable, realShapes } from './real-shapes.mjs';

const CHILD = path.join(import.meta.dirname, 'serving-speed-child.mjs');
const GIB = 2 ** 30;

/**
 * The engine before issue 19: the last commit without any of its serving work (per-row caches
 * copied into batch buffers, logits at every position, no prefix cache).
 */
export const BASELINE_REF = '3e3311f';

/** The shape the figures are read on; quick runs use the small Llama of the engine benchmark instead. */
const SHAPE = 'tinyllama-1.1b';

/**
 * fp32: the 4.4 GB file and one session at a time fit this 24 GiB machine, and a full run
 * takes about 10 minutes on 2 idle cores, most of it the 32 requests served one at a time
 * (int4 only where fp32 does not fit here).
 */
const PRECISION = 'fp32';

/**
 * Every workload's size. batched and sequential are the same `batch` requests (distinct
 * prompts, each on its own rank-16 adapter), together and one at a time: decode step time at
 * batch 32 and at batch 1, and hetero_speedup from their tokens/s.
 */
const PLAN = {
  rank: 16,
  batch: 32,
  promptTokens: 64,
  newTokens: 32,
  sequentialRequests: 32,
  prefillRequests: 16,
  prefillPromptTokens: 256,
  systemPromptTokens: 512,
  suffixTokens: 32,
  prefixRequests: 4,
};
const QUICK_PLAN = { ...PLAN, newTokens: 16, prefixRequests: 3 };

const WORKLOADS = ['batched', 'sequential', 'prefill', 'prefix'];
/** The prefix cache is new in issue 19: the baseline has nothing to compare. */
const BASELINE_WORKLOADS = WORKLOADS.filter((w) => w !== 'prefix');

/**
 * The baseline engine at `ref`, built from git: a detached worktree in a temporary folder
 * with this checkout's node_modules linked in, libs/engine compiled there with its own tsc
 * config. Returns { ref, commit, engine (the file URL of its entry point), buildSeconds,
 * remove() }; call remove() when done (it also runs if the build fails).
 */
export async function checkoutBaselineEngine(ref = BASELINE_REF) {
  const commit = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-baseline-engine-'));
  const tree = path.join(dir, 'tree');
  const modules = path.join(tree, 'node_modules');
  const remove = async () => {
    // The link first: nothing that removes the worktree may reach this checkout's packages.
    await unlink(modules).catch(() => undefined);
    try {
      git(['worktree', 'remove', '--force', tree]);
    } finally {
      await rm(dir, { recursive: true, force: true });
      git(['worktree', 'prune']);
    }
  };
  try {
    git(['worktree', 'add', '--detach', tree, commit]);
    await symlink(path.join(ROOT, 'node_modules'), modules, 'dir');
    const engineDir = path.join(tree, 'libs/engine');
    const started = performance.now();
    // libs/engine's build script: tsc -p tsconfig.json in its folder.
    run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
      cwd: engineDir,
    });
    const buildSeconds = (performance.now() - started) / 1000;
    const manifest = JSON.parse(readFileSync(path.join(engineDir, 'package.json'), 'utf8'));
    const entry = manifest.exports['.'].default;
    return { ref, commit, engine: pathToFileURL(path.join(engineDir, entry)).href, buildSeconds, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/**
 * The serving-speed figures: both engines on the same workloads from the same weight file.
 * `engine` is this checkout's (for shapes and sizes). Options: quick (the small Llama, fewer
 * tokens; default SERVING_SPEED_QUICK=1), threads, executionProvider, baselineRef, precision
 * (fp32 unless it does not fit), only (workload names, default SERVING_SPEED_ONLY or all),
 * roundCount (default SERVING_SPEED_ROUNDS or 1: rounds alternate the engines, figures are
 * medians over them), currentEngine (the "after" engine's module specifier, default
 * @tessera/engine). Throws when a run did not measure what it says.
 */
export async function servingSpeedFigures(
  engine,
  {
    quick = process.env.SERVING_SPEED_QUICK === '1',
    threads = os.availableParallelism(),
    executionProvider = 'cpu',
    baselineRef = process.env.SERVING_SPEED_BASELINE ?? BASELINE_REF,
    precision = PRECISION,
    only = process.env.SERVING_SPEED_ONLY?.split(','),
    roundCount = Number(process.env.SERVING_SPEED_ROUNDS ?? 1),
    currentEngine = '@tessera/engine',
  } = {},
) {
  const started = performance.now();
  const shape = quick
    ? { name: 'llama-d512-l8', config: LLAMA_D512_L8 }
    : realShapes(engine).find((s) => s.name === SHAPE);
  const plan = quick ? QUICK_PLAN : PLAN;
  const modules = PEFT_DEFAULT_TARGETS[shape.config.architecture];
  const workloads = only ?? WORKLOADS;
  const unknown = workloads.filter((w) => !WORKLOADS.includes(w));
  if (unknown.length) throw new Error(`serving speed: no workload ${unknown.join(', ')} (${WORKLOADS.join(', ')})`);
  const chosen = await choosePrecision(engine, shape.config, precision, plan, modules);
  const load = { before: os.loadavg() };
  const root = await mkdtemp(path.join(os.tmpdir(), 'tessera-bench-serving-speed-'));
  step(`serving speed: building the baseline engine at ${baselineRef}`);
  const baseline = await checkoutBaselineEngine(baselineRef);
  const current = { engine: currentEngine };
  const rounds = { before: [], after: [] };
  let weightFile;
  try {
    weightFile = await sharedWeightFile(shape, chosen.precision, root, baseline, current);
    const sessions = { threads, executionProvider };
    for (let round = 0; round < roundCount; round++)
      for (const [side, source, list] of [
        ['before', baseline, workloads.filter((w) => BASELINE_WORKLOADS.includes(w))],
        ['after', current, workloads],
      ]) {
        if (!list.length) continue;
        const label = source === baseline ? baseline.commit.slice(0, 7) : 'this checkout';
        step(`serving speed, round ${round + 1}/${roundCount}, ${side} (${label}): ${list.join(', ')}`);
        const loadBefore = os.loadavg();
        const task = { phase: 'serve', engine: source.engine, config: shape.config, dir: weightFile.dirs[side] };
        const result = await childTask(CHILD, { ...task, sessions, plan, modules, workloads: list });
        rounds[side].push(perEngine({ ...result, loadAverage: { before: loadBefore, after: os.loadavg() } }));
      }
  } finally {
    await baseline.remove();
    await rm(root, { recursive: true, force: true });
  }
  load.after = os.loadavg();
  return {
    ...headlineFigures(acrossRounds(rounds.before), acrossRounds(rounds.after)),
    serving_speed: {
      shape: shape.name,
      config: shape.config,
      precision: chosen.precision,
      precisionNote: chosen.note,
      adapterTargets: modules,
      plan,
      baseline: { ref: baselineRef, commit: baseline.commit, buildSeconds: baseline.buildSeconds },
      // Without its folders: they are gone when the results are read.
      weightFile: {
        bytes: weightFile.bytes,
        writeSeconds: weightFile.writeSeconds,
        shared: weightFile.shared,
        ...(weightFile.notShared ? { notShared: weightFile.notShared } : {}),
      },
      before: acrossRounds(rounds.before),
      after: acrossRounds(rounds.after),
      threads,
      executionProvider,
      load,
      seconds: (performance.now() - started) / 1000,
    },
  };
}

/** fp32 where the file (on disk, and mapped plus ORT's packed copy in memory) fits; else int4, said why. */
async function choosePrecision(engine, config, precision, plan, modules) {
  const fileBytes = engine.weightFileBytes(config, precision);
  const adapterBytes =
    plan.rank *
    4 *
    config.nLayers *
    modules.reduce((sum, m) => sum + engine.projectionShape(config, m).reduce((a, b) => a + b), 0);
  const memory = 2 * fileBytes + 2 * (plan.batch + 1) * adapterBytes + GIB;
  const disk = await statfs(os.tmpdir());
  const short =
    memory > 0.9 * memAvailable()
      ? `needs about ${gib(memory)} of memory, ${gib(memAvailable())} available`
      : fileBytes + GIB > disk.bavail * disk.bsize
        ? `needs ${gib(fileBytes)} of disk, ${gib(disk.bavail * disk.bsize)} free`
        : null;
  if (!short || precision === 'int4') return { precision, note: short ?? `${precision}: fits here` };
  return { precision: 'int4', note: `int4: ${precision} ${short}` };
}

/**
 * The weight file, written once by this checkout's engine; the baseline loads the same file
 * if it reads it, else it gets one written by itself (said so in `shared`).
 */
async function sharedWeightFile(shape, precision, root, baseline, current) {
  const dir = path.join(root, 'weights');
  step(`serving speed: writing the ${shape.name} ${precision} weight file`);
  const write = await childTask(CHILD, {
    phase: 'write',
    engine: current.engine,
    config: shape.config,
    dir,
    precision,
  });
  try {
    await childTask(CHILD, { phase: 'open', engine: baseline.engine, dir });
    return { bytes: write.bytes, writeSeconds: write.seconds, shared: true, dirs: { before: dir, after: dir } };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    step(`serving speed: the baseline does not read this weight file (${reason}); writing its own`);
    const own = path.join(root, 'weights-baseline');
    await childTask(CHILD, { phase: 'write', engine: baseline.engine, config: shape.config, dir: own, precision });
    return {
      bytes: write.bytes,
      writeSeconds: write.seconds,
      shared: false,
      notShared: reason,
      dirs: { before: own, after: dir },
    };
  }
}

/** One engine's figures from one round, and what each workload measured. */
function perEngine({ batched, sequential, prefill, prefix, loadSeconds, slotLoads, memory, loadAverage }) {
  return {
    decode_step_s_b1: sequential?.stepSeconds ?? null,
    decode_step_s_b32: batched?.stepSeconds ?? null,
    prefill_s: prefill?.seconds ?? null,
    hetero_speedup: batched && sequential ? batched.tokensPerSecond / sequential.tokensPerSecond : null,
    // Decode alone: every step of the batch carries all its rows (checked), one at a time one row; prefill left out.
    hetero_decode_speedup:
      batched && sequential ? (batched.requests * sequential.stepSeconds) / batched.stepSeconds : null,
    prefix_cache_ttft_s: prefix?.ttftSeconds ?? null,
    prefix_cache_hit_rate: prefix?.hitRate ?? null,
    ...(prefix?.skipped ? { prefix_cache_not_measured: prefix.skipped } : {}),
    workloads: { batched, sequential, prefill, prefix },
    loadSeconds,
    slotLoads,
    memory,
    loadAverage,
  };
}

/** An engine's figures as medians over its rounds (each round's in `rounds`); null when it did not run. */
function acrossRounds(rounds) {
  if (!rounds.length) return null;
  const over = (value) => {
    const values = rounds.map(value).filter((v) => typeof v === 'number');
    return values.length ? median(values) : null;
  };
  const [first] = rounds;
  return {
    decode_step_s_b1: over((r) => r.decode_step_s_b1),
    decode_step_s_b32: over((r) => r.decode_step_s_b32),
    prefill_s: over((r) => r.prefill_s),
    hetero_speedup: over((r) => r.hetero_speedup),
    hetero_decode_speedup: over((r) => r.hetero_decode_speedup),
    prefix_cache_ttft_s: first.prefix_cache_ttft_s
      ? { uncached: over((r) => r.prefix_cache_ttft_s.uncached), cached: over((r) => r.prefix_cache_ttft_s.cached) }
      : null,
    prefix_cache_hit_rate: over((r) => r.prefix_cache_hit_rate),
    ...(first.prefix_cache_not_measured ? { prefix_cache_not_measured: first.prefix_cache_not_measured } : {}),
    rounds,
  };
}

/** Before ÷ after times (> 1: faster now), and the figures read on the current engine alone. */
function headlineFigures(before, after) {
  const speedup = (key) => (before?.[key] && after?.[key] ? before[key] / after[key] : null);
  const ttft = after?.prefix_cache_ttft_s;
  return {
    decode_step_speedup_b1: speedup('decode_step_s_b1'),
    decode_step_speedup_b32: speedup('decode_step_s_b32'),
    prefill_speedup: speedup('prefill_s'),
    hetero_speedup_real_shape: after?.hetero_speedup ?? null,
    hetero_speedup_real_shape_before: before?.hetero_speedup ?? null,
    hetero_decode_speedup_real_shape: after?.hetero_decode_speedup ?? null,
    prefix_cache_ttft_speedup: ttft ? ttft.uncached / ttft.cached : null,
    prefix_cache_hit_rate: after?.prefix_cache_hit_rate ?? null,
    ...(after?.prefix_cache_not_measured ? { prefix_cache_not_measured: after.prefix_cache_not_measured } : {}),
  };
}

/** The serving-speed figures as a table: each engine's times and the ratios. */
export function printServingSpeed(results) {
  const run = results.serving_speed;
  if (!run) return;
  const { before, after } = run;
  console.log(
    `\nserving speed, ${run.shape} ${run.precision}: baseline ${run.baseline.commit.slice(0, 7)} against this checkout, ${run.before?.rounds.length ?? 0} round(s) (${run.seconds.toFixed(0)} s)`,
  );
  const rows = [
    ['decode step s, batch 1', 'decode_step_s_b1', 'decode_step_speedup_b1'],
    [`decode step s, batch ${run.plan.batch}`, 'decode_step_s_b32', 'decode_step_speedup_b32'],
    [`prefill s, ${run.plan.prefillRequests}×${run.plan.prefillPromptTokens} tokens`, 'prefill_s', 'prefill_speedup'],
    [`hetero speedup, ${run.plan.batch} adapters`, 'hetero_speedup', null],
  ];
  const cell = (value, digits = 3) => (typeof value === 'number' ? value.toFixed(digits) : '—').padStart(10);
  console.log(`${''.padEnd(36)}${'before'.padStart(10)}${'after'.padStart(10)}${'before÷after'.padStart(14)}`);
  for (const [label, key, ratio] of rows)
    console.log(
      `${label.padEnd(36)}${cell(before?.[key])}${cell(after?.[key])}${ratio ? cell(results[ratio], 2).padStart(14) : ''}`,
    );
  const ttft = after?.prefix_cache_ttft_s;
  if (ttft)
    console.log(
      `prefix cache (${run.plan.systemPromptTokens}-token system prompt): TTFT ${ttft.uncached.toFixed(3)} s without, ${ttft.cached.toFixed(3)} s with (×${results.prefix_cache_ttft_speedup.toFixed(2)}), hit rate ${results.prefix_cache_hit_rate.toFixed(3)}`,
    );
  else if (results.prefix_cache_not_measured) console.log(`prefix cache: ${results.prefix_cache_not_measured}`);
  if (!run.weightFile.shared) console.log(`weight file not shared: ${run.weightFile.notShared}`);
}

function git(args) {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function gib(bytes) {
  return `${(bytes / GIB).toFixed(2)} GiB`;
}
