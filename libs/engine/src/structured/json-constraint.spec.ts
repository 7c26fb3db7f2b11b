import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { targetModules, type DecoderConfig } from '../model/decoder-config.js';
import { DecoderSession } from '../model/decoder-session.js';
import { BatchScheduler } from '../serving/batch-scheduler.js';
import { SlotPool } from '../serving/slot-pool.js';
import { randomWeights, seededRandom } from '../testing/random.js';
import { bpeTokenizerJson, sentencePieceTokenizerJson } from '../testing/tokenizer-files.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { HfTokenizer } from '../tokenizer/hf-tokenizer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { canEnd, feed, initialState, shortestRest, type JsonState } from './json-automaton.js';
import { JsonConstraint } from './json-constraint.js';
import {
  ANY_OBJECT,
  compileJsonSchema,
  shortestLength,
  UnsupportedSchemaError,
  type JsonGrammar,
} from './json-grammar.js';

const SCHEMAS: Record<string, object> = {
  'a strict object (OpenAI style: all required, nullable by type array, enum, nested array)': {
    type: 'object',
    properties: {
      city: { type: 'string', minLength: 1, maxLength: 12 },
      temperature_c: { type: 'number' },
      days: { type: 'integer' },
      sky: { enum: ['clear', 'cloudy', 'rain'] },
      alerts: { type: 'array', items: { type: 'string', maxLength: 6 }, minItems: 1, maxItems: 3 },
      note: { type: ['string', 'null'] },
      ok: { type: 'boolean' },
    },
    required: ['city', 'temperature_c', 'days', 'sky', 'alerts', 'note', 'ok'],
    additionalProperties: false,
  },
  'optional properties, const, anyOf and nesting': {
    type: 'object',
    properties: {
      kind: { const: 'recipe' },
      title: { type: 'string' },
      steps: {
        type: 'array',
        items: {
          type: 'object',
          properties: { n: { type: 'integer' }, text: { type: 'string', maxLength: 10 } },
          required: ['text'],
        },
        maxItems: 4,
      },
      serves: { anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 4 }] },
    },
    required: ['kind', 'steps'],
  },
  'a key that needs escaping and keys sharing a prefix': {
    type: 'object',
    properties: { 'a"b': { type: 'boolean' }, ab: { type: 'null' }, abc: { type: 'integer' } },
    required: ['abc'],
    additionalProperties: false,
  },
  'a bare number at the root': { type: 'number' },
  'an array of anything': { type: 'array', maxItems: 5 },
};

const ajv = new Ajv({ strict: false });

/** Walks the automaton byte by byte, choosing at random among the bytes that keep the document finishable within `budget`. */
function randomDocument(grammar: JsonGrammar, random: () => number, budget: number): string {
  let states: JsonState[] = [initialState(grammar)];
  const bytes: number[] = [];
  for (let left = budget; left > 0; left--) {
    const choices: { byte: number; next: JsonState[] }[] = [];
    for (let byte = 0; byte < 256; byte++) {
      const next = states.flatMap((state) => feed(state, byte));
      if (next.length && Math.min(...next.map(shortestRest)) <= left - 1) choices.push({ byte, next });
    }
    const end = states.some(canEnd);
    if (states.every((state) => state === null) || (end && random() < 0.1) || choices.length === 0) break;
    const pick = choices[Math.floor(random() * choices.length)]!;
    bytes.push(pick.byte);
    states = pick.next;
  }
  assert.ok(states.some(canEnd), `the walk ended unfinished: ${Buffer.from(bytes).toString()}`);
  return Buffer.from(bytes).toString('utf8');
}

function accepts(grammar: JsonGrammar, text: string): boolean {
  let states: JsonState[] = [initialState(grammar)];
  for (const byte of Buffer.from(text)) states = states.flatMap((state) => feed(state, byte));
  return states.some(canEnd);
}

describe('JSON grammar automaton', () => {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`${name}: random walks within any budget parse and validate`, () => {
      const grammar = compileJsonSchema(schema);
      const validate = ajv.compile(schema);
      const random = seededRandom(7);
      const shortest = shortestLength(grammar);
      for (let i = 0; i < 150; i++) {
        const budget = shortest + Math.floor(random() * 60);
        const text = randomDocument(grammar, random, budget);
        assert.ok(Buffer.byteLength(text) <= budget, `${text} is over its budget ${budget}`);
        const value: unknown = JSON.parse(text);
        assert.ok(validate(value), `${text}: ${ajv.errorsText(validate.errors)}`);
      }
    });

    it(`${name}: the shortest length is exact (a walk at that budget finishes; one byte less has no document)`, () => {
      const grammar = compileJsonSchema(schema);
      const shortest = shortestLength(grammar);
      assert.equal(shortestRest(initialState(grammar)), shortest);
      const text = randomDocument(grammar, seededRandom(3), shortest);
      assert.equal(Buffer.byteLength(text), shortest, text);
    });
  }

  it('accepts valid compact documents and refuses invalid ones', () => {
    const grammar = compileJsonSchema(SCHEMAS['optional properties, const, anyOf and nesting']!);
    for (const valid of [
      '{"kind":"recipe","steps":[]}',
      '{"kind":"recipe","title":"Soup \\u00e9\\n","steps":[{"n":-10,"text":"stir"},{"text":"é 😀"}],"serves":"two"}',
      '{"kind":"recipe","steps":[{"text":""}],"serves":4}',
    ])
      assert.ok(accepts(grammar, valid), valid);
    for (const invalid of [
      '{"kind":"recipe"}', // steps is required
      '{"steps":[],"kind":"recipe"}', // out of the schema's order
      '{"kind":"recipe","steps":[],}', // trailing comma
      '{"kind":"soup","steps":[]}', // const
      '{"kind":"recipe","steps":[{"n":01,"text":"a"}]}', // leading zero
      '{"kind":"recipe","steps":[{"n":1.5,"text":"a"}]}', // not an integer
      '{"kind":"recipe","steps":[{"text":"longer than ten"}]}', // maxLength
      '{"kind":"recipe","steps":[],"extra":1}', // undeclared property
      '{"kind": "recipe","steps":[]}', // whitespace: the output is compact
      '{"kind":"recipe","steps":[{"text":"a\u0001"}]}', // a raw control character
    ])
      assert.ok(!accepts(grammar, invalid), invalid);
    assert.ok(accepts(ANY_OBJECT, '{"a":[1,{"b":null}],"c":"d"}'));
    assert.ok(!accepts(ANY_OBJECT, '[1]'));
  });

  it('refuses what it cannot enforce, naming the keyword and where it is', () => {
    const refused = (schema: object): UnsupportedSchemaError => {
      try {
        compileJsonSchema(schema);
      } catch (error) {
        if (error instanceof UnsupportedSchemaError) return error;
        throw error;
      }
      assert.fail(`${JSON.stringify(schema)} was accepted`);
    };
    for (const keyword of [
      'pattern',
      'format',
      'minimum',
      'oneOf',
      'allOf',
      '$ref',
      'patternProperties',
      'uniqueItems',
    ]) {
      const error = refused({
        type: 'object',
        properties: { a: { type: 'string', [keyword]: keyword === 'uniqueItems' ? true : 'x' } },
      });
      assert.equal(error.keyword, keyword);
      assert.equal(error.message, `#/properties/a: the keyword "${keyword}" is not supported`);
    }
    assert.equal(refused({ type: 'object', properties: {}, required: ['x'] }).keyword, 'required');
    assert.equal(refused({ type: 'string', minLength: 3, maxLength: 2 }).keyword, 'minLength');
    assert.equal(refused({ type: 'date' }).keyword, 'type');
    let deep: object = { type: 'string' };
    for (let i = 0; i < 70; i++) deep = { type: 'array', items: deep };
    assert.equal(refused(deep).keyword, 'depth');
  });
});

const tokenizers: Record<string, Tokenizer> = {
  'the byte tokenizer': new ByteTokenizer(),
  'a byte-level BPE (GPT-2)': new HfTokenizer({
    tokenizer: bpeTokenizerJson(),
    config: { eos_token: '<|endoftext|>' },
  }),
  'a SentencePiece BPE with byte fallback': new HfTokenizer({
    tokenizer: sentencePieceTokenizerJson('llama'),
    config: { bos_token: '<s>', eos_token: '</s>' },
  }),
};

/**
 * Tokens whose bytes are exactly `text`: the tokenizer's own encoding where it spells it so, else
 * one single-byte token per byte (SentencePiece's encoding starts with a space piece).
 */
function spell(tokenizer: Tokenizer, text: string): number[] {
  const bytes = Buffer.from(text);
  const encoded = tokenizer.encode(text);
  if (Buffer.concat(encoded.map((t) => tokenizer.tokenBytes(t) ?? new Uint8Array())).equals(bytes)) return encoded;
  const single = new Map<number, number>();
  for (let token = 0; token < tokenizer.vocabSize; token++) {
    const piece = tokenizer.tokenBytes(token);
    if (piece?.length === 1 && !single.has(piece[0]!)) single.set(piece[0]!, token);
  }
  return [...bytes].map((byte) => single.get(byte)!);
}

describe('JsonConstraint over a vocabulary', () => {
  for (const [name, tokenizer] of Object.entries(tokenizers)) {
    it(`${name}: token bytes spell the decoded text`, () => {
      const text = 'the "sky" {is} 12.5 é 😀 clear';
      const tokens = tokenizer.encode(text);
      const bytes = Buffer.concat(tokens.map((t) => tokenizer.tokenBytes(t) ?? new Uint8Array()));
      // SentencePiece writes the text's first space as a piece the decoder drops.
      assert.equal(bytes.toString('utf8').replace(/^ /, ''), tokenizer.decode(tokens));
      assert.equal(tokenizer.tokenBytes(tokenizer.endOfText), undefined, 'special tokens have no bytes');
    });

    it(`${name}: a mask reused for a state seen before equals a fresh walk of the vocabulary`, () => {
      const grammar = compileJsonSchema(SCHEMAS['optional properties, const, anyOf and nesting']!);
      const document = '{"kind":"recipe","title":"a free title","steps":[{"n":1,"text":"stir"}]}';
      const tokens = spell(tokenizer, document);
      const reused = new JsonConstraint(grammar, tokenizer);
      const logits = new Float32Array(tokenizer.vocabSize);
      for (const [i, token] of tokens.entries()) {
        const fresh = new JsonConstraint(grammar, tokenizer);
        for (const earlier of tokens.slice(0, i)) fresh.advance(earlier);
        // Plenty of tokens, and just enough for the rest of this document a byte per token (the budget binds).
        const left = Buffer.byteLength(document) - Buffer.byteLength(tokenizer.decode(tokens.slice(0, i))) + 1;
        for (const remaining of [1000, left])
          assert.deepEqual(
            reused.mask(logits, remaining),
            fresh.mask(logits, remaining),
            `step ${i}, ${remaining} left`,
          );
        reused.advance(token);
      }
    });

    it(`${name}: sampling from random logits under the mask always gives valid JSON, within max tokens`, () => {
      const schema =
        SCHEMAS['a strict object (OpenAI style: all required, nullable by type array, enum, nested array)']!;
      const grammar = compileJsonSchema(schema);
      const validate = ajv.compile(schema);
      const random = seededRandom(11);
      for (let i = 0; i < 25; i++) {
        const constraint = new JsonConstraint(grammar, tokenizer);
        const maxTokens = shortestLength(grammar) + Math.floor(random() * 40);
        const tokens: number[] = [];
        let complete = false;
        while (!complete && tokens.length < maxTokens) {
          const logits = Float32Array.from({ length: tokenizer.vocabSize }, () => random() * 4);
          const allowed = constraint.mask(logits, maxTokens - tokens.length);
          const finite = [...allowed.keys()].filter((t) => allowed[t] !== -Infinity);
          const token = finite[Math.floor(random() * finite.length)]!;
          if (token === tokenizer.endOfText) break;
          tokens.push(token);
          complete = constraint.advance(token);
        }
        const text = tokenizer.decode(tokens);
        assert.ok(validate(JSON.parse(text)), `${text}: ${ajv.errorsText(validate.errors)}`);
      }
    });
  }
});

describe('structured output in the batch scheduler', () => {
  const config: DecoderConfig = {
    architecture: 'llama',
    vocabSize: 257,
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    ffnDim: 64,
    maxPositions: 128,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: true,
  };

  it('every request of a batch at temperature 1 finishes with JSON its schema validates; without the constraint it would not', async () => {
    const modules = targetModules(config);
    const session = await DecoderSession.load(config, randomWeights(config, 5, 0.25), {
      threads: 1,
      lora: { modules, rank: 4 },
    });
    const tokenizer = new ByteTokenizer();
    const scheduler = new BatchScheduler(session, new SlotPool(config, { slots: 2, rank: 4, modules }), tokenizer, {
      maxBatch: 16,
      prefillChunk: 64,
      maxBatchTokens: 512,
    });
    const schema = SCHEMAS['a strict object (OpenAI style: all required, nullable by type array, enum, nested array)']!;
    const grammar = compileJsonSchema(schema);
    const validate = ajv.compile(schema);
    const request = (seed: number, constrained: boolean) =>
      scheduler.generate({
        prompt: tokenizer.encode('weather as JSON: '),
        maxTokens: 100,
        sampling: { temperature: 1, seed },
        ...(constrained ? { constraint: new JsonConstraint(grammar, tokenizer) } : {}),
      });
    const results = await Promise.all(Array.from({ length: 16 }, (_, seed) => request(seed, true)));
    for (const result of results) {
      assert.equal(result.finishReason, 'stop', result.text);
      assert.ok(validate(JSON.parse(result.text)), `${result.text}: ${ajv.errorsText(validate.errors)}`);
    }
    assert.ok(new Set(results.map((r) => r.text)).size > 8, 'the samples differ');
    const free = await request(0, false);
    assert.throws(() => JSON.parse(free.text), 'a random model writes no JSON of its own: the check is not vacuous');
  });
});
