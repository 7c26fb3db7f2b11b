// What the engine benchmarks share: a plain MatMul's GFLOP/s as the yardstick, the FLOP
// count of a forward pass, random weights, timing and the machine's description.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, WORKER_MALLOC_ENV } from '../../infra/scripts/lib/run.mjs';

/** The larger benchmark model: Llama style, d=512, 8 layers, grouped-query attention. */
export const LLAMA_D512_L8 = {
  architecture: 'llama',
  vocabSize: 257,
  dModel: 512,
  nLayers: 8,
  nHeads: 8,
  nKvHeads: 4,
  ffnDim: 1408,
  maxPositions: 2048,
  normEps: 1e-6,
  ropeTheta: 10000,
  tieEmbeddings: true,
};

/** PEFT's default LoRA targets when none are given: the attention input projections. */
export const PEFT_DEFAULT_TARGETS = { gpt2: ['attn.c_attn'], llama: ['self_attn.q_proj', 'self_attn.v_proj'] };

export async function matmulGflops(engine, sessionOptions) {
  const n = 1024;
  const g = new engine.GraphBuilder('matmul');
  const random = engine.seededRandom(3);
  const x = g.input('x', 'float32', [n, n]);
  const w = g.initializer(
    'w',
    Float32Array.from({ length: n * n }, () => random() - 0.5),
    [n, n],
  );
  g.output(g.op('MatMul', [x, w], { shape: [n, n] }), 'y');
  const session = await engine.createSession(g.serialize(), sessionOptions);
  const feeds = {
    x: engine.float32Tensor(
      Float32Array.from({ length: n * n }, () => random() - 0.5),
      [n, n],
    ),
  };
  await session.run(feeds);
  const seconds = [];
  for (let i = 0; i < 7; i++) seconds.push((await timed(() => session.run(feeds))).seconds);
  return { n, gflops: (2 * n ** 3) / median(seconds) / 1e9 };
}

/** Multiply-adds ×2 of one fresh prefill: every projection, attention's two products, the logits. */
export function forwardFlops(engine, config, rows, tokens) {
  let perToken = 0;
  for (const module of engine.targetModules(config)) {
    const [dIn, dOut] = engine.projectionShape(config, module);
    perToken += dIn * dOut;
  }
  perToken = perToken * config.nLayers + config.dModel * config.vocabSize;
  const attention = config.nLayers * 2 * tokens * tokens * config.dModel; // QKᵀ and PV over the full square the graph computes
  return 2 * rows * (tokens * perToken + attention);
}

export function randomWeights(engine, config, seed) {
  const random = engine.seededRandom(seed);
  const weights = new Map();
  for (const [name, shape] of engine.weightShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const isNorm = /(ln_|norm)[^.]*\.(weight|bias)$/.test(name);
    const scale = isNorm ? 0.1 : 1 / Math.sqrt(shape.at(-1));
    weights.set(
      name,
      Float32Array.from(
        { length: size },
        () => (isNorm && name.endsWith('.weight') ? 1 : 0) + (random() * 2 - 1) * scale,
      ),
    );
  }
  return weights;
}

export async function timed(fn) {
  const started = performance.now();
  await fn();
  return { seconds: (performance.now() - started) / 1000 };
}

export function median(values) {
  return percentile(values, 0.5);
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

export function machine(engine, executionProvider) {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    onnxruntime: engine.ort.env.versions?.common ?? 'unknown',
    executionProvider,
    date: new Date().toISOString(),
  };
}

/** `length` byte tokens of `text` repeated: prompts of a fixed length whatever the text. */
export function promptOf(text, length) {
  const bytes = Array.from(new TextEncoder().encode(text));
  return Array.from({ length }, (_, i) => bytes[i % bytes.length]);
}

/** This process's memory from /proc/self/status: resident now (anonymous and file-backed) and at its peak. */
export function processMemory() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile'), peakRss: kib('VmHWM') };
}

/** The child's side of `childTask`: runs `run` on the one task it is sent and answers { result } or { error }. */
export function answerParent(run) {
  process.once('message', (task) => {
    run(task).then(
      (result) => process.send({ result }, () => process.disconnect()),
      (error) =>
        process.send({ error: error instanceof Error ? error.stack : String(error) }, () => process.disconnect()),
    );
  });
}

/**
 * Runs one task in a child process of its own (`script` answers one message with
 * { result } or { error } through `answerParent`), so its RSS and JIT state are its own; started with --expose-gc.
 */
export function childTask(script, task) {
  return new Promise((resolve, reject) => {
    const child = fork(script, [], {
      stdio: 'inherit',
      execArgv: ['--expose-gc'],
      env: { ...process.env, ...WORKER_MALLOC_ENV },
    });
    let reply = null;
    child.on('message', (message) => (reply = message));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (reply?.error) reject(new Error(reply.error.split('\n')[0]));
      else if (reply) resolve(reply.result);
      else reject(new Error(`the ${task.phase} process ended with ${signal ?? `code ${code}`} and no result`));
    });
    child.send(task);
  });
}

/** The demo model as the engine trains it: its committed checkpoint and the byte tokenizer. */
export async function demoModel(engine) {
  return {
    ...(await engine.importHfCheckpoint(path.join(ROOT, 'models/tessera-demo'))),
    tokenizer: new engine.ByteTokenizer(),
    name: 'tessera-demo',
  };
}
