import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { ChatTemplate, ChatTemplateError } from '../tokenizer/chat-template.js';
import { learningRateAt } from './optimizer.js';
import { hyperparameterProblems, DEFAULT_HYPERPARAMETERS, prepareData } from './trainer.js';
import { packExamples, parseTrainingJsonl, splitRecords, tokenizeRecord } from './training-data.js';
import { seededRandom } from '../seeded-random.js';

const tokenizer = new ByteTokenizer();
const EOT = tokenizer.endOfText;
const CONFIG = {
  architecture: 'gpt2',
  vocabSize: 257,
  dModel: 32,
  nLayers: 2,
  nHeads: 2,
  maxPositions: 64,
  normEps: 1e-5,
} as const;

describe('training data', () => {
  it('counts the whole text, only the completion, or only the assistant turns', () => {
    const text = tokenizeRecord({ text: 'ab' }, tokenizer);
    assert.deepEqual(text.tokens, [97, 98, EOT]);
    assert.deepEqual(text.counted, [true, true, true]);

    const pair = tokenizeRecord({ prompt: 'Q:', completion: 'A' }, tokenizer);
    assert.deepEqual(pair.tokens, [...Buffer.from('Q:A'), EOT]);
    assert.deepEqual(pair.counted, [false, false, true, true]);

    const chat = tokenizeRecord(
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'yo' },
        ],
      },
      tokenizer,
    );
    const rendered = tokenizer.chatTemplate.render([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'yo' },
    ]);
    assert.equal(tokenizer.decode(chat.tokens), rendered);
    const userPart = Buffer.byteLength('<|user|>\nhi\n');
    assert.ok(chat.counted.slice(0, userPart).every((c) => !c));
    assert.ok(chat.counted.slice(userPart).every((c) => c));
  });

  it("fails with the chat template's own error when the template runs away (the worker fails the job for good)", () => {
    const looping = Object.assign(new ByteTokenizer(), {
      chatTemplate: new ChatTemplate(
        '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}',
      ),
    });
    assert.throws(
      () => tokenizeRecord({ messages: [{ role: 'user', content: 'hi' }] }, looping),
      (error) => error instanceof ChatTemplateError && error.failure === 'time',
    );
  });

  it('packs examples end to end into rows of next-token targets, padding the last row uncounted', () => {
    const rows = packExamples(
      [tokenizeRecord({ text: 'abc' }, tokenizer), tokenizeRecord({ prompt: 'x', completion: 'y' }, tokenizer)],
      4,
      EOT,
    );
    // stream: a b c EOT x y EOT; the prompt token x is never counted as a target
    assert.deepEqual(
      rows.map((r) => r.inputs),
      [
        [97, 98, 99, EOT],
        [120, 121, EOT, EOT],
      ],
    );
    assert.deepEqual(
      rows.map((r) => r.targets),
      [
        [98, 99, EOT, 120],
        [121, EOT, EOT, EOT],
      ],
    );
    assert.deepEqual(
      rows.map((r) => r.lossMask),
      [
        [1, 1, 1, 0],
        [1, 1, 0, 0],
      ],
    );
  });

  it('tokenizes and packs a record longer than the stack holds arguments (a 200 KB record)', () => {
    // A record's ids were once spread as call arguments: past ~100k of them every training,
    // audit and deletion that read the record died with "Maximum call stack size exceeded".
    const long = 'x'.repeat(200_000);
    for (const record of [
      { text: long },
      { prompt: long, completion: long },
      {
        messages: [
          { role: 'user' as const, content: long },
          { role: 'assistant' as const, content: long },
        ],
      },
    ]) {
      const example = tokenizeRecord(record, tokenizer);
      assert.ok(example.tokens.length > 200_000);
      assert.equal(example.counted.length, example.tokens.length);
      const rows = packExamples([example, example], 64, EOT);
      assert.equal(rows.length, Math.ceil((2 * example.tokens.length - 1) / 64));
    }
    const data = prepareData([{ text: long }], tokenizer, { ...DEFAULT_HYPERPARAMETERS, maxSequenceLength: 64 });
    assert.equal(data.train.length + data.validation.length, Math.ceil(200_000 / 64));
  });

  it('reports every bad JSONL line by number and reason', () => {
    const jsonl = [
      '{"text":"ok"}',
      'not json',
      '{"prompt":"p"}',
      '',
      '{"messages":[{"role":"user","content":"q"}]}',
      '[1]',
    ].join('\n');
    assert.throws(
      () => parseTrainingJsonl(jsonl),
      (e: Error) =>
        /line 2: not valid JSON/.test(e.message) &&
        /line 3: "completion" must be a non-empty string/.test(e.message) &&
        /line 5: "messages" has no assistant turn/.test(e.message) &&
        /line 6: expected a JSON object/.test(e.message),
    );
    assert.throws(() => parseTrainingJsonl('\n\n'), /no records/);
  });

  it('splits by a seeded shuffle, keeping at least one record on each side', () => {
    const records = [...Array(10).keys()];
    const a = splitRecords(records, 0.2, seededRandom(1));
    assert.equal(a.validation.length, 2);
    assert.deepEqual(
      [...a.train, ...a.validation].sort((x, y) => x - y),
      records,
    );
    assert.deepEqual(splitRecords(records, 0.2, seededRandom(1)), a);
    assert.equal(splitRecords([1, 2], 0.01, seededRandom(1)).validation.length, 1);
  });

  it('warms up linearly, then decays along a cosine to a tenth of the peak', () => {
    const schedule = { peak: 1, warmupSteps: 4, totalSteps: 14 };
    assert.deepEqual(
      [0, 1, 2, 3].map((s) => learningRateAt(s, schedule)),
      [0.25, 0.5, 0.75, 1],
    );
    assert.ok(Math.abs(learningRateAt(9, schedule) - 0.55) < 1e-12);
    assert.ok(Math.abs(learningRateAt(14, schedule) - 0.1) < 1e-12);
  });

  it('names every bad hyperparameter', () => {
    const problems = hyperparameterProblems(
      { ...DEFAULT_HYPERPARAMETERS, rank: 0, learningRate: 2, maxSequenceLength: 65, targetModules: ['mlp.up_proj'] },
      CONFIG,
    );
    assert.equal(problems.length, 4);
    assert.match(problems.join('\n'), /rank must be a positive integer/);
    assert.match(problems.join('\n'), /maxSequenceLength must be an integer from 2 to the model's 64 positions/);
    assert.match(problems.join('\n'), /target module mlp.up_proj is not a projection of this gpt2 model/);
  });
});
