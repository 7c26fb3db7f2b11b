// Structured output: what the JSON constraint's token mask costs per decode step, over a
// synthetic 50,257-token byte-level vocabulary (GPT-2's size: every byte, then random printable
// pieces of 2–8 bytes) and the demo's 257-token byte vocabulary, writing one document byte by
// byte. The first step in each new kind of position walks the vocabulary's trie; later steps in
// the same kind of position (a free string's next character) reuse that walk. Checks that every
// byte of the document was allowed by the mask before it and that the document completed.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, ensureInstalled, ROOT } from '../infra/scripts/lib/run.mjs';

const SCHEMA = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    days: { type: 'integer' },
    sky: { enum: ['clear', 'cloudy', 'rain'] },
    note: { type: 'string' },
  },
  required: ['city', 'days', 'sky', 'note'],
  additionalProperties: false,
};
const DOCUMENT =
  '{"city":"oslo, the capital of norway","days":12,"sky":"clear","note":"low wind and a dry week ahead"}';

export default async function structuredBench() {
  ensureInstalled();
  build();
  const { JsonConstraint, compileJsonSchema, seededRandom } = await import('../libs/engine/dist/index.js');
  const vocabularies = { bpe_50257: syntheticVocabulary(seededRandom(1)), bytes_257: byteVocabulary() };
  const results = {};
  for (const [name, tokenizer] of Object.entries(vocabularies)) {
    const constraint = new JsonConstraint(compileJsonSchema(SCHEMA), tokenizer);
    const logits = new Float32Array(tokenizer.vocabSize);
    const times = [];
    let complete = false;
    for (const byte of new TextEncoder().encode(DOCUMENT)) {
      const started = performance.now();
      const masked = constraint.mask(logits, 1000);
      times.push(performance.now() - started);
      if (masked[byte] === -Infinity) throw new Error(`${name}: the mask refused byte ${byte} of a valid document`);
      complete = constraint.advance(byte);
    }
    if (!complete) throw new Error(`${name}: the document did not complete`);
    const sorted = [...times].sort((a, b) => a - b);
    results[name] = {
      steps: times.length,
      mask_ms_p50: round(sorted[sorted.length >> 1]),
      mask_ms_max: round(sorted.at(-1)),
      mask_ms_total: round(times.reduce((a, b) => a + b, 0)),
    };
    console.log(`${name}: ${JSON.stringify(results[name])}`);
  }
  const result = { benchmark: 'structured', schema: SCHEMA, document_bytes: DOCUMENT.length, vocabularies: results };
  writeFileSync(path.join(ROOT, 'bench/results/structured.json'), `${JSON.stringify(result, null, 2)}\n`);
}

function syntheticVocabulary(random) {
  const pieces = Array.from({ length: 256 }, (_, byte) => Uint8Array.of(byte));
  const alphabet = ' abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;"{}[]-_';
  while (pieces.length < 50_256) {
    const length = 2 + Math.floor(random() * 7);
    let piece = random() < 0.5 ? ' ' : '';
    while (piece.length < length) piece += alphabet[Math.floor(random() * alphabet.length)];
    pieces.push(new TextEncoder().encode(piece));
  }
  return { vocabSize: 50_257, endOfText: 50_256, tokenBytes: (token) => pieces[token] };
}

function byteVocabulary() {
  return { vocabSize: 257, endOfText: 256, tokenBytes: (token) => (token < 256 ? Uint8Array.of(token) : undefined) };
}

const round = (ms) => Math.round(ms * 100) / 100;
