// Serving at production shapes (GPT-2 small, TinyLlama-1.1B, Qwen2.5-1.5B; random weights)
// from the engine's weight files at each precision: file write and session load times, RSS,
// TTFT, decode at batch 1 and at batch 32 on 32 adapters, and fp32 decode at batch 1 against
// the memory bandwidth measured just before and after it. Each phase runs in a child process
// (real-shape-child.mjs) so its RSS is its own.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { step } from '../../infra/scripts/lib/run.mjs';
import { childTask, PEFT_DEFAULT_TARGETS } from './engine-common.mjs';
import { memoryBandwidth } from './memory-bandwidth.mjs';
import { parameterCount } from './random-weight-reader.mjs';

const CHILD = path.join(import.meta.dirname, 'real-shape-child.mjs');
const GIB = 2 ** 30;

/** Adapters of the batch-32 runs: one distinct adapter per request, all resident at once. */
const ADAPTERS = { rank: 16, batch: 32 };

/** The shape the int4 ÷ fp32 speedup and the RSS goal are read on. */
const SPEEDUP_SHAPE = 'tinyllama-1.1b';

/** TinyLlama-1.1B: d 2048, 22 layers, 32 heads, 4 KV heads, ffn 5632, vocab 32000, untied head. */
export const TINYLLAMA_SHAPE = {
  architecture: 'llama',
  vocabSize: 32000,
  dModel: 2048,
  nLayers: 22,
  nHeads: 32,
  nKvHeads: 4,
  ffnDim: 5632,
  maxPositions: 2048,
  normEps: 1e-5,
  ropeTheta: 10000,
  tieEmbeddings: false,
};

export function realShapes(engine) {
  return [
    {
      name: 'gpt2-small-124m',
      config: {
        architecture: 'gpt2',
        vocabSize: 50257,
        dModel: 768,
        nLayers: 12,
        nHeads: 12,
        maxPositions: 1024,
        normEps: 1e-5,
        gelu: 'tanh',
      },
    },
    {
      name: SPEEDUP_SHAPE,
      config: TINYLLAMA_SHAPE,
    },
    qwenShape(engine),
  ];
}

/** Qwen2.5-1.5B with its q/k/v biases where the engine has them; else the same shape as plain Llama, said so. */
function qwenShape(engine) {
  const llama = {
    architecture: 'llama',
    vocabSize: 151936,
    dModel: 1536,
    nLayers: 28,
    nHeads: 12,
    nKvHeads: 2,
    ffnDim: 8960,
    maxPositions: 32768,
    normEps: 1e-6,
    ropeTheta: 1000000,
    tieEmbeddings: true,
  };
  const qwen2 = { ...llama, family: 'qwen2', qkvBias: true, slidingWindow: null };
  const hasBiases =
    engine.configProblems(qwen2).length === 0 && engine.weightShapes(qwen2).has('layers.0.self_attn.q_proj.bias');
  return {
    name: 'qwen2.5-1.5b',
    config: hasBiases ? qwen2 : llama,
    note: hasBiases
      ? 'Qwen2 family: q/k/v biases (no sliding window, as Qwen2.5-1.5B ships)'
      : 'run as a Llama shape: this engine has no q/k/v biases yet (Qwen2 adds 0.2M bias parameters)',
  };
}

/** Tokens per run: fewer for fp32 of the billion-parameter shapes, whose steps are slowest. */
function planFor(parameters, precision) {
  const slow = precision === 'fp32' && parameters > 5e8;
  return {
    ...ADAPTERS,
    b1Tokens: slow ? 16 : 32,
    b1Rounds: 3,
    b32Tokens: slow ? 8 : 16,
    b32PromptTokens: 16,
  };
}

export async function realShapeFigures(
  engine,
  { quick, threads, executionProvider, only, precisions = engine.WEIGHT_PRECISIONS },
) {
  const shapes = realShapes(engine).filter((s) => (only ? only.includes(s.name) : !quick || s.name.startsWith('gpt2')));
  const load = { before: loadAverage() };
  const root = await mkdtemp(path.join(os.tmpdir(), 'tessera-bench-real-shapes-'));
  const results = {};
  const failures = [];
  try {
    for (const shape of shapes) {
      const parameters = parameterCount(engine, shape.config);
      const entry = {
        config: shape.config,
        parameters,
        ...(shape.note ? { note: shape.note } : {}),
        adapterTargets: PEFT_DEFAULT_TARGETS[shape.config.architecture],
      };
      results[shape.name] = entry;
      for (const precision of precisions) {
        const label = `${shape.name} ${precision}`;
        const dir = path.join(root, `${shape.name}-${precision}`);
        try {
          const sessions = { threads, executionProvider };
          entry[precision] = await runPrecision(engine, { shape, parameters, precision, dir, sessions, label });
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          failures.push(`${label}: ${message}`);
          entry[precision] = { error: message };
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  load.after = loadAverage();
  return {
    ...figures(results),
    real_shapes: results,
    real_shapes_run: {
      threads,
      executionProvider,
      adapters: `batch ${ADAPTERS.batch}: ${ADAPTERS.batch} distinct rank-${ADAPTERS.rank} adapters on PEFT's default targets (adapterTargets; TinyLlama int4 also on every projection) in a ${ADAPTERS.batch + 1}-slot pool and a host cache, all resident`,
      pageCache:
        'sessions load right after their file is written: the page cache is warm, as on a worker that just wrote it',
      load,
      failures,
    },
  };
}

async function runPrecision(engine, { shape, parameters, precision, dir, sessions, label }) {
  const { config } = shape;
  const modules = PEFT_DEFAULT_TARGETS[config.architecture];
  // Where the RSS goal is read, adapters also on every projection: what the worker's own slot pools hold.
  const everyProjection = shape.name === SPEEDUP_SHAPE && precision === 'int4' ? engine.targetModules(config) : null;
  const fileBytes = engine.weightFileBytes(config, precision);
  const tooBig = await whyNotFit(engine, config, fileBytes, everyProjection ?? modules);
  if (tooBig) {
    step(`${label}: skipped, ${tooBig}`);
    return { skipped: tooBig };
  }
  const plan = planFor(parameters, precision);
  step(`${label}: writing the weight file (${gib(fileBytes)})`);
  const write = await runChild({ phase: 'write', config, dir, precision });
  // The yardstick for fp32 decode, measured on either side of it: both under the same load.
  const bandwidthRuns = [];
  if (precision === 'fp32') {
    step(`${label}: memory bandwidth, one fp32 MatMul [1, 8192]·[8192, 16384] from a mapped 512 MiB weight file`);
    bandwidthRuns.push(await memoryBandwidth(engine, { ...sessions, dir: `${dir}-bandwidth` }));
  }
  step(`${label}: ${write.seconds.toFixed(1)} s; base session: TTFT and decode at batch 1`);
  const base = await runChild({ phase: 'base', config, dir, sessions, plan });
  step(
    `${label}: TTFT ${base.ttftMs.toFixed(0)} ms, ${base.decodeTokensPerSecond.toFixed(2)} tokens/s at batch 1; adapter session: batch ${plan.batch}`,
  );
  const lora = await runChild({ phase: 'lora', config, dir, sessions, plan, modules });
  step(
    `${label}: ${lora.decodeTokensPerSecond.toFixed(1)} tokens/s at batch ${plan.batch}, RSS ${gib(lora.rssAfterServingBytes)}`,
  );
  // fp32 sessions either pack their weights (the default, above) or read the mapped file in place (shareWeights).
  if (precision === 'fp32') step(`${label}: base session reading the mapped file in place: batch 1`);
  const mapped =
    precision === 'fp32'
      ? await runChild({ phase: 'base', config, dir, sessions: { ...sessions, shareWeights: true }, plan })
      : undefined;
  if (precision === 'fp32') bandwidthRuns.push(await memoryBandwidth(engine, { ...sessions, dir: `${dir}-bandwidth` }));
  const loraEveryProjection = everyProjection
    ? await runChild({ phase: 'lora', config, dir, sessions, plan, modules: everyProjection })
    : undefined;
  const decodeReadBytes = await linearWeightBytes(engine, config, dir);
  const perWeightByte = (phase) => ({
    ...phase,
    rssAfterLoadPerWeightByte: phase.rssAfterLoadBytes / write.bytes,
    rssAfterServingPerWeightByte: phase.rssAfterServingBytes / write.bytes,
  });
  return {
    weightFileBytes: write.bytes,
    writeSeconds: write.seconds,
    loadSeconds: base.loadSeconds,
    ttftMs: base.ttftMs,
    decodeTokensPerSecondB1: base.decodeTokensPerSecond,
    decodeTokensPerSecondB32: lora.decodeTokensPerSecond,
    // A decode step reads every linear layer's weights once: bytes/step × steps/s.
    decodeReadBytesPerStep: decodeReadBytes,
    decodeReadBytesPerSecondB1: decodeReadBytes * base.decodeTokensPerSecond,
    plan,
    write,
    base: perWeightByte(base),
    ...(mapped
      ? {
          baseMapped: {
            ...perWeightByte(mapped),
            decodeReadBytesPerSecondB1: decodeReadBytes * mapped.decodeTokensPerSecond,
          },
        }
      : {}),
    adapters32: perWeightByte(lora),
    ...(bandwidthRuns.length
      ? {
          bandwidth: {
            // The higher of the two: the machine's reach around this run, not one measurement's bad luck.
            bytesPerSecond: Math.max(...bandwidthRuns.map((run) => run.bytesPerSecond)),
            runs: bandwidthRuns,
          },
        }
      : {}),
    ...(loraEveryProjection ? { adapters32EveryProjection: perWeightByte(loraEveryProjection) } : {}),
  };
}

/** The headline figures the checks read, from this run's results. */
function figures(results) {
  const served = Object.values(results)
    .filter((shape) => ['fp32', 'int8', 'int4'].some((precision) => shape[precision]?.decodeTokensPerSecondB32))
    .map((shape) => shape.parameters);
  const out = {};
  if (served.length) out.max_params_loaded = Math.max(...served);
  const speedup = results[SPEEDUP_SHAPE];
  if (speedup?.fp32?.decodeTokensPerSecondB1 && speedup?.int4?.decodeTokensPerSecondB1)
    out.int4_decode_speedup_b1 = speedup.int4.decodeTokensPerSecondB1 / speedup.fp32.decodeTokensPerSecondB1;
  const largest = Object.entries(results)
    .filter(([, shape]) => shape.fp32?.decodeTokensPerSecondB1)
    .sort(([, a], [, b]) => b.parameters - a.parameters)[0];
  if (largest) {
    out.bandwidth_ratio_b1 = largest[1].fp32.decodeReadBytesPerSecondB1 / largest[1].fp32.bandwidth.bytesPerSecond;
    out.bandwidth_ratio_b1_shape = `${largest[0]} fp32`;
  }
  const rss = speedup?.int4?.adapters32;
  if (rss) out.rss_int4_1b_32_adapters_gib = rss.rssAfterServingBytes / GIB;
  // The same two figures against fp32 read from the mapped file in place rather than packed.
  const mappedFp32 = (shape) => shape?.fp32?.baseMapped?.decodeTokensPerSecond;
  out.with_fp32_mapped = {
    ...(mappedFp32(speedup) && speedup.int4?.decodeTokensPerSecondB1
      ? { int4_decode_speedup_b1: speedup.int4.decodeTokensPerSecondB1 / mappedFp32(speedup) }
      : {}),
    ...(largest && mappedFp32(largest[1])
      ? {
          bandwidth_ratio_b1:
            largest[1].fp32.baseMapped.decodeReadBytesPerSecondB1 / largest[1].fp32.bandwidth.bytesPerSecond,
        }
      : {}),
  };
  return out;
}

/**
 * Bytes of every linear layer (the output head included) in a written weight file: what one
 * decode step reads. The writer keeps other tensors (embeddings, norms, biases) under their
 * checkpoint names and stores linear layers transposed or quantized under names of its own.
 */
async function linearWeightBytes(engine, config, dir) {
  const file = await engine.WeightFile.open(dir);
  const checkpointNames = new Set(engine.weightShapes(config).keys());
  let bytes = 0;
  for (const [name, stored] of Object.entries(file.index.tensors)) {
    if (stored.kind === 'nbits') bytes += stored.data.length + stored.scales.length;
    else if (!checkpointNames.has(name)) bytes += stored.length;
  }
  return bytes;
}

/**
 * Why a shape × precision cannot run here, or null. Serving holds the mapped file and the
 * packed copy ORT makes of it (2× the file), the adapters twice (host cache and slots), and
 * activations (1 GiB); the file needs its bytes on disk.
 */
async function whyNotFit(engine, config, fileBytes, modules) {
  const available = memAvailable();
  const needed = 2 * fileBytes + 2 * (ADAPTERS.batch + 1) * adapterBytes(engine, config, modules) + GIB;
  if (needed > 0.9 * available)
    return `needs about ${gib(needed)} of memory (mapped file, packed copy, adapters), ${gib(available)} available`;
  const disk = await statfs(os.tmpdir());
  if (fileBytes + GIB > disk.bavail * disk.bsize)
    return `needs ${gib(fileBytes)} of disk for the weight file, ${gib(disk.bavail * disk.bsize)} free`;
  return null;
}

function adapterBytes(engine, config, modules) {
  let perLayer = 0;
  for (const module of modules) perLayer += engine.projectionShape(config, module).reduce((a, b) => a + b);
  return 4 * ADAPTERS.rank * perLayer * config.nLayers;
}

/** Runs one phase in its own process; its result carries the load averages around it (other work skews every figure). */
async function runChild(task) {
  const before = os.loadavg();
  const result = await childTask(CHILD, task);
  return { ...result, loadAverage: { before, after: os.loadavg() } };
}

export function memAvailable() {
  const kib = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
  return Number(kib) * 1024;
}

function loadAverage() {
  const [one, five, fifteen] = os.loadavg();
  return { at: new Date().toISOString(), one, five, fifteen, cores: os.availableParallelism() };
}

function gib(bytes) {
  return `${(bytes / GIB).toFixed(2)} GiB`;
}

/** The real-shape figures as a table, and the headline figures against the goals. */
export function printRealShapes(results) {
  const shapes = results.real_shapes ?? {};
  const columns = [
    ['write s', (r) => r.writeSeconds.toFixed(1)],
    ['load s', (r) => r.loadSeconds.toFixed(1)],
    ['file GiB', (r) => (r.weightFileBytes / GIB).toFixed(2)],
    ['RSS load', (r) => (r.base.rssAfterLoadBytes / GIB).toFixed(2)],
    ['RSS/file', (r) => r.base.rssAfterServingPerWeightByte.toFixed(2)],
    ['RSS 32 ad.', (r) => (r.adapters32.rssAfterServingBytes / GIB).toFixed(2)],
    ['TTFT ms', (r) => r.ttftMs.toFixed(0)],
    ['tok/s b1', (r) => r.decodeTokensPerSecondB1.toFixed(2)],
    ['tok/s b32', (r) => r.decodeTokensPerSecondB32.toFixed(1)],
  ];
  console.log(`\n${'real shape'.padEnd(24)}${columns.map(([title]) => title.padStart(11)).join('')}`);
  for (const [name, shape] of Object.entries(shapes)) {
    for (const precision of ['fp32', 'int8', 'int4']) {
      const run = shape[precision];
      if (!run) continue;
      const label = `${name} ${precision}`.padEnd(24);
      if (run.skipped || run.error)
        console.log(`${label}${run.skipped ? 'skipped' : 'failed'}: ${run.skipped ?? run.error}`);
      else console.log(`${label}${columns.map(([, value]) => value(run).padStart(11)).join('')}`);
    }
  }
  const goals = [
    ['max_params_loaded', '', (x) => `${(x / 1e9).toFixed(2)}B`],
    ['int4_decode_speedup_b1', '≥ 2.5', (x) => x.toFixed(2)],
    ['bandwidth_ratio_b1', '≥ 0.5', (x) => `${x.toFixed(2)} (${results.bandwidth_ratio_b1_shape})`],
    ['rss_int4_1b_32_adapters_gib', '≤ 1.5', (x) => x.toFixed(2)],
  ];
  for (const [figure, goal, format] of goals) {
    const value = results[figure];
    console.log(`${figure.padEnd(30)}${(value === undefined ? 'not measured' : format(value)).padStart(26)}   ${goal}`);
  }
  for (const [name, shape] of Object.entries(shapes))
    if (shape.fp32?.bandwidth)
      console.log(
        `memory bandwidth around ${name} fp32: ${(shape.fp32.bandwidth.bytesPerSecond / 1e9).toFixed(1)} GB/s`,
      );
  for (const failure of results.real_shapes_run?.failures ?? []) console.log(`FAILED ${failure}`);
}
