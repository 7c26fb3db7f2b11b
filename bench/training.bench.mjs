// Engine training: LoRA fine-tune throughput on the demo model and on a d=512 Llama style
// model, full training of the demo model's architecture, and the achieved GFLOP/s of each
// training step against a plain MatMul measured in the same run. Writes
// bench/results/training.json.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build, ensureInstalled, ROOT, step } from '../infra/scripts/lib/run.mjs';
import { forwardFlops, LLAMA_D512_L8, machine, matmulGflops, median, randomWeights } from './lib/engine-common.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const THREADS = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const EXECUTION_PROVIDER = process.env.BENCH_EP ?? 'cpu';
const ROUNDS = QUICK ? 1 : 3;
const BATCH = 8;
const LENGTH = 128;
const DEMO_DIR = path.join(ROOT, 'models/tessera-demo');

export default async function trainingBench() {
  ensureInstalled();
  build();
  const engine = await import('@tessera/engine');
  const sessionOptions = { threads: THREADS, executionProvider: EXECUTION_PROVIDER };
  const matmul = await matmulGflops(engine, sessionOptions);
  step(`plain MatMul ${matmul.n}×${matmul.n}: ${matmul.gflops.toFixed(1)} GFLOP/s`);

  const demo = existsSync(path.join(DEMO_DIR, 'model.safetensors')) ? await engine.importHfCheckpoint(DEMO_DIR) : null;
  if (!demo) throw new Error('models/tessera-demo is missing: run npm run train:base first');
  const tokenizer = new engine.ByteTokenizer();
  const records = engine.DOMAINS.flatMap((domain) => engine.domainTexts(domain, 60)).map((text) => ({ text }));
  const models = [
    { name: 'tessera-demo', config: demo.config, weights: demo.weights, steps: QUICK ? 2 : 12 },
    {
      name: 'llama-d512-l8',
      config: LLAMA_D512_L8,
      weights: randomWeights(engine, LLAMA_D512_L8, 1),
      steps: QUICK ? 1 : 4,
    },
  ];
  const results = {
    machine: machine(engine, EXECUTION_PROVIDER),
    settings: { threads: THREADS, batch: BATCH, length: LENGTH, rounds: ROUNDS, matmulGflopsPerSecond: matmul.gflops },
    models: {},
  };

  for (const model of models) {
    const hyperparameters = {
      rank: 8,
      alpha: 16,
      batchSize: BATCH,
      maxSequenceLength: LENGTH,
      maxSteps: model.steps,
      validationFraction: 0,
      warmupSteps: 1,
      seed: 1,
    };
    const lora = [];
    for (let round = 0; round < ROUNDS; round++) {
      step(`${model.name}: LoRA fine-tune (rank 8, every projection), round ${round + 1}/${ROUNDS}`);
      const { metrics } = await engine.train({
        model: { config: model.config, weights: model.weights, tokenizer },
        data: records,
        hyperparameters,
        ...sessionOptions,
      });
      lora.push(metrics.tokensPerSecond);
    }
    // Frozen weights: the backward pass needs the input gradient of every product (≈ one
    // more forward) but no weight gradient; full training needs both (≈ two more).
    const forwardPerToken = forwardFlops(engine, model.config, BATCH, LENGTH) / (BATCH * LENGTH);
    const loraTokensPerSecond = median(lora);
    results.models[model.name] = {
      config: model.config,
      lora_tokens_per_second: loraTokensPerSecond,
      train_gflops_ratio: (loraTokensPerSecond * 2 * forwardPerToken) / 1e9 / matmul.gflops,
    };
  }

  const full = [];
  const packed = engine.prepareData(records, tokenizer, {
    ...engine.DEFAULT_HYPERPARAMETERS,
    maxSequenceLength: LENGTH,
    validationFraction: 0,
  });
  for (let round = 0; round < ROUNDS; round++) {
    step(`tessera-demo architecture: full training, round ${round + 1}/${ROUNDS}`);
    const { metrics } = await engine.trainBase({
      config: demo.config,
      data: packed,
      weights: demo.weights,
      hyperparameters: { batchSize: BATCH, maxSequenceLength: LENGTH, maxSteps: QUICK ? 2 : 12, warmupSteps: 1 },
      ...sessionOptions,
    });
    full.push(metrics.tokensPerSecond);
  }
  const fullTokensPerSecond = median(full);
  results.models['tessera-demo'].full_training_tokens_per_second = fullTokensPerSecond;
  results.models['tessera-demo'].full_training_gflops_ratio =
    (fullTokensPerSecond * 3 * forwardFlops(engine, demo.config, BATCH, LENGTH)) /
    (BATCH * LENGTH) /
    1e9 /
    matmul.gflops;

  console.log(
    `\n${'model'.padEnd(16)}${'LoRA tok/s'.padStart(12)}${'train_gflops_ratio'.padStart(20)}${'full tok/s'.padStart(12)}${'full ratio'.padStart(12)}   (goal: train_gflops_ratio ≥ 0.35)`,
  );
  for (const [name, r] of Object.entries(results.models)) {
    const f = (x, digits) => (x === undefined ? '' : x.toFixed(digits));
    console.log(
      `${name.padEnd(16)}${f(r.lora_tokens_per_second, 0).padStart(12)}${f(r.train_gflops_ratio, 2).padStart(20)}${f(r.full_training_tokens_per_second, 0).padStart(12)}${f(r.full_training_gflops_ratio, 2).padStart(12)}`,
    );
  }
  console.log(
    `rows of ${LENGTH} tokens, batches of ${BATCH}, ${THREADS} threads, ${EXECUTION_PROVIDER}; plain MatMul ${matmul.gflops.toFixed(1)} GFLOP/s`,
  );
  if (QUICK) return;
  mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench/results/training.json'), JSON.stringify(results, null, 2) + '\n');
  console.log('written to bench/results/training.json');
}
