// npm run train:base — trains the built-in demo base model from scratch with the engine's
// own trainer, on WordNet's glosses (Debian's wordnet-base package; extracted here at
// training time, never committed), and writes models/tessera-demo/: config.json and
// model.safetensors in Hugging Face's GPT-2 layout, plus MODEL_CARD.md with the figures.
//   TRAIN_MINUTES (default 50): the time budget; the step count is fixed from it after
//   timing the first steps, so the cosine schedule ends where the budget does.
//   TRAIN_STEPS: a fixed step count instead (reproducible bit for bit on the same machine).
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build, ensureInstalled, ROOT, step } from './lib/run.mjs';
import { glosses, wordnetDataDir } from './lib/wordnet.mjs';

const OUT = process.env.TRAIN_OUT ?? path.join(ROOT, 'models/tessera-demo');
const CONFIG = {
  architecture: 'gpt2',
  vocabSize: 257,
  dModel: 192,
  nLayers: 4,
  nHeads: 4,
  maxPositions: 256,
  normEps: 1e-5,
  gelu: 'tanh',
};
const HYPERPARAMETERS = {
  learningRate: 2e-3,
  batchSize: 16,
  gradientAccumulation: 1,
  maxSequenceLength: 128,
  warmupSteps: 100,
  weightDecay: 0.01,
  clipNorm: 1,
  seed: 1,
};
const THREADS = os.availableParallelism();

export default async function trainBaseModel() {
  ensureInstalled();
  build();
  const engine = await import('@tessera/engine');
  step('extracting WordNet glosses');
  const records = glosses(wordnetDataDir()).map((text) => ({ text }));
  const corpusBytes = records.reduce((n, r) => n + Buffer.byteLength(r.text) + 1, 0);
  console.log(`${records.length} glosses, ${(corpusBytes / 1e6).toFixed(1)} MB`);
  const tokenizer = new engine.ByteTokenizer();
  const h = { ...HYPERPARAMETERS, validationFraction: 0.01 };
  const data = engine.prepareData(records, tokenizer, h);
  console.log(
    `${data.train.length} training rows, ${data.validation.length} validation rows of ${h.maxSequenceLength} tokens`,
  );

  let steps = Number(process.env.TRAIN_STEPS ?? 0);
  if (!steps) {
    step('timing the training step');
    const probe = await engine.trainBase({
      config: CONFIG,
      data: { train: data.train, validation: [] },
      hyperparameters: { ...h, maxSteps: 4 },
      threads: THREADS,
    });
    const perStep = probe.metrics.seconds / 4;
    steps = Math.floor((Number(process.env.TRAIN_MINUTES ?? 50) * 60) / perStep);
    console.log(`${perStep.toFixed(2)} s per step → ${steps} steps`);
  }
  step(`training ${JSON.stringify(CONFIG)} for ${steps} steps`);
  const started = Date.now();
  const { weights, metrics } = await engine.trainBase({
    config: CONFIG,
    data,
    hyperparameters: { ...h, maxSteps: steps, evalEvery: Math.max(1, Math.floor(steps / 10)) },
    threads: THREADS,
    onProgress: (p) => {
      if (p.step % 50 === 0 || p.validation) {
        const validation = p.validation ? `  validation ${(p.validation.loss / Math.LN2).toFixed(3)} bits/byte` : '';
        console.log(
          `step ${p.step}/${p.totalSteps}  loss ${p.loss.toFixed(3)}  lr ${p.learningRate.toExponential(2)}  ${p.tokensPerSecond.toFixed(0)} tok/s${validation}`,
        );
      }
    },
  });
  const minutes = (Date.now() - started) / 60000;
  await engine.writeHfCheckpoint(OUT, CONFIG, weights);
  const bitsPerByte = metrics.validationLoss / Math.LN2;
  const card = `# tessera-demo

The built-in demo base model of Tessera: a byte-level GPT-2 style decoder trained from
scratch by the engine's own trainer (\`npm run train:base\`, infra/scripts/train-base.mjs).

| | |
|---|---|
| architecture | GPT-2 style: d=${CONFIG.dModel}, ${CONFIG.nLayers} layers, ${CONFIG.nHeads} heads, tanh GELU, ${CONFIG.maxPositions} positions |
| tokenizer | bytes (0–255) + end-of-text (256), the engine's ByteTokenizer |
| parameters | ${[...weights.values()].reduce((n, w) => n + w.length, 0).toLocaleString('en')} (fp32) |
| data | WordNet 3.0 glosses (Debian's wordnet-base), ${records.length.toLocaleString('en')} glosses, ${(corpusBytes / 1e6).toFixed(1)} MB; 1% held out for validation |
| training | ${metrics.steps} steps × ${h.batchSize} rows × ${h.maxSequenceLength} bytes = ${(metrics.trainTokens / 1e6).toFixed(1)}M tokens seen; AdamW, peak lr ${h.learningRate}, warmup ${h.warmupSteps}, cosine, clip ${h.clipNorm}, weight decay ${h.weightDecay}, seed ${h.seed} |
| wall time | ${minutes.toFixed(1)} minutes on ${THREADS} CPU threads (${metrics.tokensPerSecond.toFixed(0)} tokens/s), ${new Date().toISOString().slice(0, 10)} |
| validation | ${bitsPerByte.toFixed(3)} bits per byte (uniform bytes: 8), token accuracy ${(metrics.validationAccuracy * 100).toFixed(1)}% |

WordNet is © Princeton University, under the WordNet 3.0 licence (free use, copying and
distribution with the notice kept); the glosses are read from the package at training
time and not committed. A small model for demos and tests: it writes dictionary-style English,
not facts.
`;
  writeFileSync(path.join(OUT, 'MODEL_CARD.md'), card);
  console.log(card);
}

if (import.meta.url === `file://${process.argv[1]}`) await trainBaseModel();
