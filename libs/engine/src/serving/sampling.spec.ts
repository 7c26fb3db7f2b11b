import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { seededRandom as requestRandom } from '../seeded-random.js';
import { adjustLogits, sampleToken } from './sampling.js';

describe('sampleToken', () => {
  const logits = Float32Array.of(1, 3, 2.5, -1, 3);

  it('is greedy at temperature 0, ties to the lowest id', () => {
    assert.equal(sampleToken(logits, {}, requestRandom(1)), 1);
  });

  it('keeps to the top-k candidates', () => {
    const seen = new Set(
      Array.from({ length: 300 }, (_, i) => sampleToken(logits, { temperature: 5, topK: 2 }, requestRandom(i))),
    );
    assert.deepEqual([...seen].sort(), [1, 4]);
  });

  it('keeps to the smallest set holding top-p of the mass', () => {
    const peaked = Float32Array.of(10, 0, 0, 0);
    const seen = new Set(
      Array.from({ length: 200 }, (_, i) => sampleToken(peaked, { temperature: 1, topP: 0.9 }, requestRandom(i))),
    );
    assert.deepEqual([...seen], [0]);
  });

  it('follows the softmax at the temperature, and a seed repeats', () => {
    const counts = [0, 0, 0, 0, 0];
    const random = requestRandom(42);
    for (let i = 0; i < 20_000; i++) counts[sampleToken(logits, { temperature: 1 }, random)]!++;
    const z = Array.from(logits).reduce((s, l) => s + Math.exp(l), 0);
    for (let i = 0; i < 5; i++)
      assert.ok(Math.abs(counts[i]! / 20_000 - Math.exp(logits[i]!) / z) < 0.015, `token ${i}`);
    const draw = (seed: number) => {
      const random = requestRandom(seed);
      return Array.from({ length: 20 }, () => sampleToken(logits, { temperature: 1 }, random));
    };
    assert.deepEqual(draw(7), draw(7));
  });
});

describe('adjustLogits: OpenAI penalties and logit_bias', () => {
  const logits = Float32Array.of(1, 3, 2.5, -1, 3);

  it('subtracts count × frequency + presence from each token the completion holds, and adds the biases', () => {
    // Token 1 twice, token 4 once; presence 0.5, frequency 0.25; bias +2 on 3, −1 on 2.
    const adjusted = adjustLogits(
      logits,
      { presencePenalty: 0.5, frequencyPenalty: 0.25, logitBias: { 3: 2, 2: -1 } },
      [1, 4, 1],
    );
    assert.deepEqual(Array.from(adjusted), [1, 3 - 2 * 0.25 - 0.5, 2.5 - 1, -1 + 2, 3 - 0.25 - 0.5]);
    assert.deepEqual(Array.from(logits), [1, 3, 2.5, -1, 3], 'the logits given are not changed');
    assert.equal(adjustLogits(logits, { presencePenalty: 1 }, []), logits, 'nothing to adjust: the same array');
  });

  it('steers greedy decoding: a penalty moves it off a repeated token, a bias of 100 forces one', () => {
    assert.equal(sampleToken(logits, {}, requestRandom(1), [1]), 1);
    assert.equal(sampleToken(logits, { presencePenalty: 0.1 }, requestRandom(1), [1]), 4);
    assert.equal(sampleToken(logits, { logitBias: { 3: 100 } }, requestRandom(1)), 3);
    assert.equal(sampleToken(logits, { logitBias: { 1: -100, 4: -100 } }, requestRandom(1)), 2);
  });
});

describe('ByteTokenizer', () => {
  it('round-trips any text and streams multi-byte characters whole', () => {
    const tokenizer = new ByteTokenizer();
    const text = 'Zürich → 東京 🚀';
    const tokens = tokenizer.encode(text);
    assert.equal(tokenizer.decode(tokens), text);
    const next = tokenizer.streamDecoder();
    const pieces = [...tokens, tokenizer.endOfText].map(next);
    assert.equal(pieces.join(''), text);
    assert.ok(pieces.every((p) => !p.includes('\ufffd')));
  });
});
