// Perplexity of the demo base model (trained by `npm run train:base`) on its held-out WordNet
// glosses, at each weight precision, side by side in one run: the cost in quality of int8 and
// int4 weights, measured rather than assumed.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT, step } from '../../infra/scripts/lib/run.mjs';
import { glosses, wordnetDataDir } from '../../infra/scripts/lib/wordnet.mjs';

const MODEL_DIR = path.join(ROOT, 'models/tessera-demo');
/** The split train:base made: the same records, tokenizer and settings give the same held-out rows. */
const SPLIT = { maxSequenceLength: 128, validationFraction: 0.01, seed: 1 };
const ROWS_PER_BATCH = 16;

export async function quantizedPerplexity(engine, { threads }) {
  if (!existsSync(path.join(MODEL_DIR, 'model.safetensors'))) throw new Error(`no demo model in ${MODEL_DIR}`);
  const config = engine.decoderConfigFromHf(JSON.parse(readFileSync(path.join(MODEL_DIR, 'config.json'), 'utf8')));
  const shard = await engine.fileShard(path.join(MODEL_DIR, 'model.safetensors'));
  const { read, problems } = await engine.shardReader(config, [shard]);
  if (problems.length) throw new Error(`demo model: ${problems.join('; ')}`);
  step('quantized perplexity: extracting the held-out WordNet glosses');
  const records = glosses(wordnetDataDir()).map((text) => ({ text }));
  const { validation } = engine.prepareData(records, new engine.ByteTokenizer(), SPLIT);
  if (validation.length === 0) throw new Error('no held-out rows: the split changed');

  const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-perplexity-'));
  const byPrecision = {};
  try {
    for (const precision of ['fp32', 'int8', 'int4']) {
      const file = await engine.writeWeightFile(path.join(dir, precision), config, read, precision);
      const session = await engine.DecoderSession.load(config, file, { threads, scoring: true });
      let nll = 0;
      let tokens = 0;
      for (let at = 0; at < validation.length; at += ROWS_PER_BATCH) {
        const rows = validation.slice(at, at + ROWS_PER_BATCH);
        const { tokenLogprobs } = await session.forward({
          ids: rows.map((r) => r.inputs),
          positions: rows.map((r) => r.inputs.map((_, t) => t)),
          attentionMask: rows.map((r) => r.inputs.map(() => 1)),
          targets: rows.map((r) => r.targets),
        });
        const width = rows[0].inputs.length;
        rows.forEach((row, b) =>
          row.lossMask.forEach((counted, t) => {
            if (counted) {
              nll -= tokenLogprobs[b * width + t];
              tokens++;
            }
          }),
        );
      }
      await session.release();
      const perplexity = Math.exp(nll / tokens);
      byPrecision[precision] = {
        perplexity,
        bitsPerByte: nll / tokens / Math.LN2,
        tokens,
        weightFileBytes: file.bytes,
      };
      step(`quantized perplexity: ${precision} ${perplexity.toFixed(4)} over ${tokens} held-out bytes`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (byPrecision.int4.perplexity === byPrecision.fp32.perplexity)
    throw new Error('int4 perplexity equals fp32: the quantized weights were not used');
  return {
    int8_perplexity_ratio: byPrecision.int8.perplexity / byPrecision.fp32.perplexity,
    int4_perplexity_ratio: byPrecision.int4.perplexity / byPrecision.fp32.perplexity,
    perplexity: {
      model: 'tessera-demo (models/tessera-demo, trained by npm run train:base)',
      text: 'its held-out 1% of WordNet 3.0 glosses, bytes',
      quantization:
        'weight-only, blocks of 64 inputs (32 where K is not a multiple of 64), symmetric, every linear layer and the output head; MatMulNBits accuracy level 4',
      ...byPrecision,
    },
  };
}
