import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { ChatTemplate, ChatTemplateError } from '../tokenizer/chat-template.js';
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
    // The user turn and the assistant header are given; the reply, its newline and end-of-text are learned.
    const given = Buffer.byteLength('<|user|>\nhi\n<|assistant|>\n');
    assert.ok(chat.counted.slice(0, given).every((c) => !c));
    assert.ok(chat.counted.slice(given).every((c) => c));
    assert.equal(chat.counted.length - given, Buffer.byteLength('yo\n') + 1);
  });

  it("counts an assistant turn's content and end of turn, never its header (TRL's assistant_only_loss)", () => {
    // ChatML, as Qwen's and many other templates render it, with a system turn and two replies.
    const chatml = Object.assign(new ByteTokenizer(), {
      chatTemplate: new ChatTemplate(
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
      ),
    });
    const messages = [
      { role: 'system' as const, content: 'be brief' },
      { role: 'user' as const, content: 'hi' },
      { role: 'assistant' as const, content: 'yo' },
      { role: 'user' as const, content: 'bye' },
      { role: 'assistant' as const, content: 'ok' },
    ];
    const chat = tokenizeRecord({ messages }, chatml);
    const text = chatml.decode(chat.tokens.slice(0, -1));
    assert.equal(text, chatml.chatTemplate.render(messages));
    // Which characters count, as a string: 1 where counted.
    const mask = chat.counted.slice(0, -1).map((c) => (c ? '1' : '0'));
    const expected = [
      ['<|im_start|>system\nbe brief<|im_end|>\n', '0'],
      ['<|im_start|>user\nhi<|im_end|>\n', '0'],
      ['<|im_start|>assistant\n', '0'],
      ['yo<|im_end|>\n', '1'],
      ['<|im_start|>user\nbye<|im_end|>\n', '0'],
      ['<|im_start|>assistant\n', '0'],
      ['ok<|im_end|>\n', '1'],
    ]
      .map(([part, bit]) => bit!.repeat(part!.length))
      .join('');
    assert.equal(mask.join(''), expected);
    assert.equal(chat.counted.at(-1), true, 'end-of-text after the last reply is learned');
  });

  it("finds the header from the reply's content when the template's generation prompt differs from its turns", () => {
    // A generation prompt unlike the turns it renders: the header is what the template writes before any
    // content. The reply "a" also appears in the header "[assistant]", so searching for the content would not do.
    const odd = Object.assign(new ByteTokenizer(), {
      chatTemplate: new ChatTemplate(
        "{% for m in messages %}{{ '[' + m['role'] + ']\\n' + m['content'] + '[end]' }}{% endfor %}" +
          "{% if add_generation_prompt %}{{ '<reply>' }}{% endif %}",
      ),
    });
    const chat = tokenizeRecord(
      {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 'a' },
        ],
      },
      odd,
    );
    const counted = chat.tokens.filter((_, i) => chat.counted[i]).slice(0, -1);
    assert.equal(odd.decode(counted), 'a[end]');
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

  it('document-masked packing: each document restarts at position 0 in a segment of its own, its first token no target', () => {
    const examples = [
      tokenizeRecord({ text: 'abc' }, tokenizer),
      tokenizeRecord({ prompt: 'x', completion: 'yz' }, tokenizer),
    ];
    // stream: a b c EOT | x y z EOT (| marks a document boundary); rows of 5, the last padded.
    const masked = packExamples(examples, 5, EOT, 'document_masked');
    const across = packExamples(examples, 5, EOT);
    // Inputs and targets are the same either way; positions, segments and the mask differ.
    assert.deepEqual(
      masked.map((r) => [r.inputs, r.targets]),
      across.map((r) => [r.inputs, r.targets]),
    );
    assert.deepEqual(
      masked.map((r) => r.inputs),
      [
        [97, 98, 99, EOT, 120],
        [121, 122, EOT, EOT, EOT],
      ],
    );
    assert.deepEqual(
      masked.map((r) => r.segments),
      [
        [0, 0, 0, 0, 1],
        [0, 0, 0, 1, 1],
      ],
    );
    assert.deepEqual(
      masked.map((r) => r.positions),
      [
        [0, 1, 2, 3, 0],
        // The second document goes on from position 0 of the new row; then the padding.
        [0, 1, 2, 0, 1],
      ],
    );
    // EOT → x crosses documents (no target); x is a prompt token anyway; the padding never counts.
    assert.deepEqual(
      masked.map((r) => r.lossMask),
      [
        [1, 1, 1, 0, 1],
        [1, 1, 0, 0, 0],
      ],
    );
    assert.deepEqual(
      across.map((r) => [r.positions, r.segments]),
      [
        [
          [0, 1, 2, 3, 4],
          [0, 0, 0, 0, 0],
        ],
        [
          [0, 1, 2, 3, 4],
          [0, 0, 0, 0, 0],
        ],
      ],
    );
    // Across documents the first text token of the next document is a target: a → [1, 1, 1, 1, 1] had it been text.
    const texts = [tokenizeRecord({ text: 'ab' }, tokenizer), tokenizeRecord({ text: 'cd' }, tokenizer)];
    assert.deepEqual(packExamples(texts, 6, EOT)[0]!.lossMask, [1, 1, 1, 1, 1, 0]);
    assert.deepEqual(packExamples(texts, 6, EOT, 'document_masked')[0]!.lossMask, [1, 1, 0, 1, 1, 0]);
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

  it('names every bad hyperparameter', () => {
    const problems = hyperparameterProblems(
      { ...DEFAULT_HYPERPARAMETERS, rank: 0, learningRate: 2, maxSequenceLength: 65, targetModules: ['mlp.up_proj'] },
      CONFIG,
    );
    assert.equal(problems.length, 4);
    assert.match(problems.join('\n'), /rank must be a positive integer/);
    assert.match(problems.join('\n'), /maxSequenceLength must be an integer from 2 to the model's 64 positions/);
    assert.match(problems.join('\n'), /target module mlp.up_proj is not a projection of this gpt2 model/);
    const optimizer = hyperparameterProblems(
      {
        ...DEFAULT_HYPERPARAMETERS,
        maxSequenceLength: 64,
        adamBeta1: 1,
        adamBeta2: -0.1,
        adamEpsilon: 0,
        minLearningRateRatio: 1.5,
        packing: 'interleaved' as never,
      },
      CONFIG,
    );
    assert.deepEqual(optimizer, [
      'minLearningRateRatio must be in [0, 1], got 1.5',
      'adamBeta1 must be in [0, 1), got 1',
      'adamBeta2 must be in [0, 1), got -0.1',
      'adamEpsilon must be positive, got 0',
      'packing must be one of document_masked, cross_document, got interleaved',
    ]);
    assert.deepEqual(
      hyperparameterProblems(
        { ...DEFAULT_HYPERPARAMETERS, maxSequenceLength: 64, adamBeta1: 0, adamBeta2: 0.99 },
        CONFIG,
      ),
      [],
    );
  });
});
