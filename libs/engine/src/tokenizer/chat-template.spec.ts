import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Template } from '@huggingface/jinja';
import {
  ChatTemplate,
  ChatTemplateError,
  DEFAULT_CHAT_TEMPLATE,
  type ChatMessage,
  type ChatTemplateFailure,
  type ChatTemplateLimits,
} from './chat-template.js';

const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: ' hi ' },
  { role: 'assistant', content: 'hello' },
  { role: 'user', content: 'and?' },
];
const TOKENS = { bos_token: '<s>', eos_token: '</s>' };

/** Templates as checkpoints ship them, with the special tokens they read. */
const HF_TEMPLATES: Record<string, string> = {
  default: DEFAULT_CHAT_TEMPLATE,
  'llama-3':
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
  chatml:
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  zephyr:
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ '<|system|>\\n' + message['content'] + eos_token }}{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n'  + message['content'] + eos_token }}{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}{% endfor %}",
  'with globals':
    "{% for n in range(2) %}{{ n }}{% endfor %}{% if true and not none %}{{ messages|length }}{% endif %}{{ strftime_now('%Y')|length }}",
};

/** Doubles a string until it would pass V8's maximum length in microseconds (ropes make it cheap). */
const DOUBLED = "{% set ns = namespace(s='abc') %}{% for i in range(27) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}";

/** Tenant code that would hold the worker: each is stopped, and soon. */
const RUNAWAY: { name: string; source: string; limits?: Partial<ChatTemplateLimits>; failure: ChatTemplateFailure }[] =
  [
    {
      name: 'ten billion loop iterations',
      source: '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}',
      failure: 'time',
    },
    { name: 'a string grown past the limit', source: `${DOUBLED}{{ ns.s|length }}`, failure: 'output-size' },
    // Without the size limit: ~1.5 s in one uninterruptible builtin, and ~0.8 GB.
    { name: 'a long string upper-cased', source: `${DOUBLED}{{ ns.s|upper }}`, failure: 'output-size' },
    // Without the size limit V8 aborts the whole process ("Fatal JavaScript invalid size error").
    { name: 'a long string split', source: `${DOUBLED}{{ ns.s.split('a')|length }}`, failure: 'output-size' },
    {
      name: 'output past a configured limit',
      source: '{% for i in range(2000) %}x{% endfor %}',
      limits: { maxOutputChars: 1000 },
      failure: 'output-size',
    },
    {
      name: 'a range Jinja’s sandbox refuses',
      source: '{% for i in range(100000000) %}{% endfor %}',
      failure: 'render',
    },
    { name: 'raise_exception', source: "{{ raise_exception('roles must alternate') }}", failure: 'render' },
  ];

/** The error a template fails with, and how long it took to fail. */
function failureOf(make: () => unknown): { error: ChatTemplateError; ms: number } {
  const start = performance.now();
  try {
    make();
  } catch (error) {
    assert.ok(error instanceof ChatTemplateError, String(error));
    return { error, ms: performance.now() - start };
  }
  assert.fail('expected a ChatTemplateError');
}

describe('chat template: tenant code under limits', () => {
  it('renders the default template as before', () => {
    assert.equal(
      new ChatTemplate().render([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }),
      '<|user|>\nhi\n<|assistant|>\n',
    );
  });

  for (const [name, source] of Object.entries(HF_TEMPLATES))
    it(`renders ${name} exactly as @huggingface/jinja does`, () => {
      for (const addGenerationPrompt of [false, true])
        assert.equal(
          new ChatTemplate(source, TOKENS).render(CONVERSATION, { addGenerationPrompt }),
          new Template(source).render({
            messages: CONVERSATION,
            add_generation_prompt: addGenerationPrompt,
            ...TOKENS,
          }),
        );
    });

  for (const { name, source, limits, failure } of RUNAWAY)
    it(`stops ${name} (${failure})`, () => {
      const template = new ChatTemplate(source, TOKENS, limits);
      const { error, ms } = failureOf(() => template.render(CONVERSATION));
      assert.equal(error.failure, failure, error.message);
      assert.match(error.message, /^chat_template: /);
      // A safety bound, not a benchmark: unlimited, the first of these holds the thread for hours.
      assert.ok(ms < 2000, `took ${ms} ms`);
    });

  it('names the time limit it hit', () => {
    const template = new ChatTemplate(
      '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}',
      {},
      { timeMs: 20 },
    );
    const { error, ms } = failureOf(() => template.render([]));
    assert.match(error.message, /longer than the limit of 20 ms/);
    // Wall time cannot tell a runaway from a starved thread: it failed only after a second try.
    assert.ok(ms >= 36, `failed after ${ms} ms, before a second try could run`);
  });

  it('refuses an oversized source and a syntax error when constructed', () => {
    const oversized = failureOf(() => new ChatTemplate('x'.repeat(64 * 1024 + 1))).error;
    assert.equal(oversized.failure, 'source-size');
    assert.match(oversized.message, /65537 characters, over the limit of 65536/);
    const broken = failureOf(() => new ChatTemplate('{% for message in %}{{ message }}{% endfor %}')).error;
    assert.equal(broken.failure, 'syntax');
    assert.match(broken.message, /does not parse/);
  });

  it('counts the conversation itself toward the output limit', () => {
    const template = new ChatTemplate(DEFAULT_CHAT_TEMPLATE, {}, { maxOutputChars: 100 });
    assert.equal(
      failureOf(() => template.render([{ role: 'user', content: 'x'.repeat(101) }])).error.failure,
      'output-size',
    );
    assert.equal(template.render([{ role: 'user', content: 'x'.repeat(50) }]).length, 60);
  });
});
