import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { argmax } from '../serving/sampling.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { evaluateAdapter } from '../training/trainer.js';
import { DecoderSession } from './decoder-session.js';
import { importHfCheckpoint } from './hf-checkpoint.js';

// libs/engine/dist/model → the repository's models/tessera-demo
const DEMO_DIR = fileURLToPath(new URL('../../../../models/tessera-demo', import.meta.url));

describe('the built-in demo base model (models/tessera-demo)', () => {
  it('is small enough to commit, and its card reports validation bits per byte', () => {
    assert.ok(statSync(`${DEMO_DIR}/model.safetensors`).size <= 25 * 2 ** 20);
    assert.match(readFileSync(`${DEMO_DIR}/MODEL_CARD.md`, 'utf8'), /bits per byte/);
  });

  it('imports as a checkpoint and models unseen English far below uniform bytes (8 bits)', async (t) => {
    const { config, weights, tokenizer } = await importHfCheckpoint(DEMO_DIR);
    assert.equal(tokenizer, null, 'byte-level: no tokenizer.json, the built-in ByteTokenizer');
    const model = { config, weights, tokenizer: new ByteTokenizer() };
    const english = [
      { text: 'a small boat used for fishing on a lake or river' },
      { text: 'the act of walking slowly through a quiet town at night' },
    ];
    const { loss } = await evaluateAdapter(model, null, english, { threads: 1 });
    const bitsPerByte = loss / Math.LN2;
    t.diagnostic(`demo model on unseen English: ${bitsPerByte.toFixed(2)} bits per byte`);
    assert.ok(bitsPerByte < 3.5, `${bitsPerByte} bits per byte`);
    // And it continues a prompt with printable text.
    const session = await DecoderSession.load(config, weights, { threads: 1 });
    const prompt = new ByteTokenizer().encode('a piece of furniture ');
    const { logits } = await session.forward({
      ids: [prompt],
      positions: [prompt.map((_, i) => i)],
      attentionMask: [prompt.map(() => 1)],
    });
    const next = argmax(logits.subarray((prompt.length - 1) * config.vocabSize, prompt.length * config.vocabSize));
    assert.ok(next >= 32 && next < 127, `next byte ${next}`);
  });
});
